"""The prompt catalogue: every prompt the code uses exists in every locale, and none is unused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prompts.catalogue import (
    Catalogue,
    CatalogueError,
    Locale,
    LocalePrompts,
    PromptId,
    load_catalogue,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("ivr", "routing", "workers", "console", "lifeline")


def used_prompt_ids() -> set[str]:
    found: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            found.update(re.findall(r"PromptId\.([A-Z_]+)", path.read_text()))
    return found


def test_every_prompt_id_is_used_by_the_code_and_every_use_is_an_id() -> None:
    declared = {prompt.name for prompt in PromptId}
    used = used_prompt_ids()
    assert used - declared == set(), "code uses prompt ids that do not exist"
    assert declared - used == set(), "prompt ids that no code uses"


def test_every_locale_has_every_prompt_and_nothing_else() -> None:
    catalogue = load_catalogue()
    for locale in Locale:
        for prompt in PromptId:
            assert catalogue.text(locale, prompt).strip()


def test_welsh_is_keypad_only_and_has_its_own_voice() -> None:
    catalogue = load_catalogue()
    assert catalogue.voice(Locale.CY).speech_recognition is False
    assert catalogue.voice(Locale.CY).voice == "Polly.Gwyneth"
    assert catalogue.voice(Locale.EN).voice == "Polly.Amy"


def prompts_for(locale: Locale, **changes: str | None) -> LocalePrompts:
    text = {prompt.value: "Text." for prompt in PromptId}
    text.update(position="Number {position}.", wait_estimate="{minutes} minutes.")
    text.update(callback_confirm_number="{last_digits}.", callback_readback="{digits}.")
    for key, value in changes.items():
        if value is None:
            text.pop(key)
        else:
            text[key] = value
    return LocalePrompts(
        locale=locale, voice="v", language=locale.value, speech_recognition=False, prompts=text
    )


def test_a_missing_prompt_stops_start_up_naming_it() -> None:
    with pytest.raises(CatalogueError, match="cy-GB is missing prompts: welcome"):
        Catalogue(
            {Locale.EN: prompts_for(Locale.EN), Locale.CY: prompts_for(Locale.CY, welcome=None)}
        )


def test_an_unused_prompt_is_refused() -> None:
    with pytest.raises(CatalogueError, match="prompts no code uses: farewell"):
        Catalogue(
            {Locale.EN: prompts_for(Locale.EN, farewell="Bye."), Locale.CY: prompts_for(Locale.CY)}
        )


def test_a_translation_with_other_placeholders_is_refused() -> None:
    with pytest.raises(CatalogueError, match="position has placeholders"):
        Catalogue(
            {
                Locale.EN: prompts_for(Locale.EN),
                Locale.CY: prompts_for(Locale.CY, position="Rhif {safle}."),
            }
        )


def test_a_missing_locale_is_refused() -> None:
    with pytest.raises(CatalogueError, match="locale cy-GB has no prompt file"):
        Catalogue({Locale.EN: prompts_for(Locale.EN)})
