"""W7: the masks of personal data and the table of who sees it whole (pure, no app)."""

from __future__ import annotations

import pytest

from hotline.domain import privacy
from hotline.domain.privacy import Sight
from hotline.domain.taxonomy import Role


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+8613812341234", "138****1234"),
        ("13812341234", "138****1234"),
        ("+86 138 1234 1234", "138****1234"),
        ("+865342122110", "0534***2110"),  # fixed line: area code and last 4
        ("0534-2122110", "0534***2110"),
        ("010-12345678", "010****5678"),  # a two-digit area code
        ("2122110", "***2110"),  # no area code: only the last 4
        ("12345", "*2345"),
        ("1234", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_w7_phone_keeps_first_3_or_area_code_and_last_4(number, shown) -> None:
    """W7: a phone number masked keeps the mobile's first 3 (fixed line: area code) and last 4."""
    assert privacy.mask_phone(number) == shown


def test_w7_masked_phone_never_holds_the_middle_digits() -> None:
    """W7: no masked mobile number shows its middle four digits."""
    for middle in ("0000", "5678", "9999"):
        masked = privacy.mask_phone(f"138{middle}4321")
        assert middle not in masked.replace("*", "")[3:-4]
        assert masked == "138****4321"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("禹城市市中街道汉槐街88号3单元201", "禹城市市中街道汉槐街**"),
        ("禹城市汉槐街 18 号", "禹城市汉槐街**"),
        ("汉槐小区五号楼二单元", "汉槐小区**"),
        ("城关镇李庄村三组", "城关镇李庄村**"),
        ("汉槐街", "汉槐街"),  # a street alone says no more than itself
        ("", ""),
    ],
)
def test_w7_address_keeps_street_or_community_without_house_number(address, shown) -> None:
    """W7: a masked address stops before the first house, building, unit or room number."""
    assert privacy.mask_address(address) == shown


def test_w7_address_without_numbers_shows_at_most_half() -> None:
    """W7: an address with no number in it is cut after its first half."""
    text = "禹城市市中街道汉槐街东头"
    masked = privacy.mask_address(text)
    assert masked.endswith("**")
    assert len(masked) - 2 <= len(text) // 2 + 1
    assert "东头" not in masked


@pytest.mark.parametrize(
    ("account", "shown"),
    [("100231", "1****1"), ("1002345678", "10******78"), ("AB", "**"), ("", "")],
)
def test_w7_account_number_has_its_middle_masked(account, shown) -> None:
    """W7: an account number keeps its first and last quarter."""
    assert privacy.mask_account(account) == shown


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("孙丽", "孙**"),
        ("孙建国", "孙**"),
        ("孙先生", "孙**"),
        ("欧阳修", "欧阳**"),
        ("John", "J**"),
    ],
)
def test_w7_name_keeps_the_surname(name, shown) -> None:
    """W7: a masked name is the surname and two stars, whatever the name's length."""
    assert privacy.mask_name(name) == shown


def test_w7_role_table_whole_only_for_those_who_call_or_visit() -> None:
    """W7: operators, dispatchers, supervisors and crews (own cases) see whole; admins masked."""
    assert privacy.sight(Role.OPERATOR) is Sight.WHOLE
    assert privacy.sight(Role.DISPATCHER) is Sight.WHOLE
    assert privacy.sight(Role.SUPERVISOR) is Sight.WHOLE
    assert privacy.sight(Role.CREW, own_case=True) is Sight.WHOLE
    assert privacy.sight(Role.CREW, own_case=False) is Sight.MASKED
    assert privacy.sight(Role.ADMIN) is Sight.MASKED
    assert privacy.sight(Role.ADMIN, own_case=True) is Sight.MASKED
    # The billing system sees its own customers, but no case that is not its own.
    assert privacy.sight(Role.BILLING, own_case=False) is Sight.MASKED
    assert privacy.sight("nobody") is Sight.MASKED
    assert privacy.sight(None) is Sight.MASKED


def test_w7_every_role_has_exactly_one_row_in_the_table() -> None:
    """W7: the table decides for every role, once (a new role must be decided)."""
    assert sorted(row.role for row in privacy.POLICY) == sorted(Role)
    assert all(row.why for row in privacy.POLICY)


def test_w7_personal_masks_every_part_or_none() -> None:
    """W7: one record's data is shown whole or masked as a whole."""
    kwargs = {
        "name": "孙建国",
        "phone": "+8613805341234",
        "address": "禹城市汉槐街 18 号",
        "account": "100231",
    }
    whole = privacy.personal(Sight.WHOLE, **kwargs)
    assert (whole.name, whole.phone, whole.address, whole.account) == (
        "孙建国",
        "138 0534 1234",
        "禹城市汉槐街 18 号",
        "100231",
    )
    assert whole.dial == "+8613805341234" and not whole.masked
    masked = privacy.personal(Sight.MASKED, **kwargs)
    assert (masked.name, masked.phone, masked.address, masked.account) == (
        "孙**",
        "138****1234",
        "禹城市汉槐街**",
        "1****1",
    )
    assert masked.dial == "" and masked.masked
