"""The water-utility hotline: cases, first-responder ownership, time limits, follow-up.

``hotline.app.create_app`` builds the web application; ``hotline.domain.lifecycle``
is the pure case lifecycle; ``hotline.services`` applies it to the database.
"""
