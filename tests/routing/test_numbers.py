"""The number policy: which numbers Lifeline may put a caller through to."""

from __future__ import annotations

import pytest

from config.number_policy import outside_policy
from routing.numbers import uk_number


@pytest.mark.parametrize(
    "number",
    [
        "+441134960000",  # geographic 01
        "+441632960999",  # geographic 01 (Ofcom's drama range)
        "+442920180111",  # geographic 02
        "+443001234567",  # non-geographic 03 (NHS bodies use them)
        "+448001234567",  # freephone 080
        "+44800123456",  # freephone 080, nine digits after 0
        "+447700900123",  # mobile 07
        "+447912345678",  # mobile 07
    ],
)
def test_the_default_policy_allows_uk_geographic_03_freephone_and_mobile_numbers(
    number: str,
) -> None:
    assert outside_policy(number) is None


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+449098790000", "a 090 number"),  # premium rate
        ("+448712345678", "a 087 number"),  # revenue-sharing non-geographic
        ("+448451234567", "a 084 number"),
        ("+448812345678", "a 088 number"),
        ("+445512345678", "a 055 number"),  # corporate
        ("+445612345678", "a 056 number"),  # location-independent VoIP
        ("+447012345678", "a personal number (070)"),
        ("+447623456789", "a pager number (076)"),
        ("+353123456789", "not a UK number"),
        ("+14155550100", "not a UK number"),
        ("+4480012", "not a complete UK number"),
        ("+4411349600001", "not a complete UK number"),
        ("+4401134960000", "not a complete UK number"),
    ],
)
def test_the_default_policy_refuses_premium_personal_pager_and_international_numbers(
    number: str, why: str
) -> None:
    reason = outside_policy(number)
    assert reason is not None
    assert reason.startswith(why)
    assert number not in reason
    assert number[3:] not in reason


def test_a_number_listed_as_an_exception_is_allowed_and_only_that_one() -> None:
    exceptions = frozenset({"+882345678901"})
    assert outside_policy("+882345678901", exceptions) is None
    assert outside_policy("+882345678902", exceptions) is not None


@pytest.mark.parametrize(
    ("keyed", "number"),
    [
        ("01134960000", "+441134960000"),
        ("02920180111", "+442920180111"),
        ("07700900123", "+447700900123"),
        ("00447700900123", "+447700900123"),
    ],
)
def test_a_keyed_in_callback_number_may_be_geographic_or_mobile(keyed: str, number: str) -> None:
    assert uk_number(keyed) == number


@pytest.mark.parametrize(
    "keyed",
    [
        "09098790000",  # premium rate
        "03001234567",  # non-geographic: a service, not a patient
        "08001234567",  # freephone: likewise
        "08712345678",
        "07012345678",  # personal number
        "07623456789",  # pager
        "05612345678",
        "0999",
        "0111",
    ],
)
def test_a_keyed_in_callback_number_is_never_premium_personal_pager_or_a_service(
    keyed: str,
) -> None:
    assert uk_number(keyed) is None
