"""What the dispatch center sees and does: routing, deadlines, the live board.

Builds on ``hotline``'s case domain; ``hotline.app`` wires it in.
"""
