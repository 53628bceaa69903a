"""The routing file: validation, classification of Dutch free text, due dates."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.router.routing.classify import normalise, within_one_edit
from services.router.routing.rules import RoutingFileError, add_working_days, load_routing
from shared.contracts import Channel

ROUTING = load_routing()


@pytest.mark.parametrize(
    ("text", "product", "owner"),
    [
        (
            "Ik wil een evenementenvergunning aanvragen voor ons festival",
            "evenementenvergunning",
            "evenementen",
        ),
        ("aanvraag evenemntenvergunning", "evenementenvergunning", "evenementen"),  # typo
        ("Onze evenementenvergunningaanvraag", "evenementenvergunning", "evenementen"),  # compound
        ("Ik heb mijn baan verloren en wil bijstand", "bijstand", "werk-en-inkomen"),
        ("Mijn paspoort is verlopen", "paspoort", "burgerzaken"),
        ("Ik ben VERHUISD naar een nieuw adres", "brp-inschrijving", "burgerzaken"),
        ("bewonersvergunning voor parkeren", "parkeervergunning", "parkeren"),
        ("De kliko is niet geleegd", "afvalcontainer", "afval"),
        ("Aanvraag traplift via de Wmo", "wmo-voorziening", "zorg"),
        ("Mag ik een dakkapel bouwen?", "omgevingsvergunning", "vergunningen"),
        (
            "Bezwaar tegen mijn WOZ-waarde en OZB aanslag",
            "onroerendezaakbelasting (ozb)",
            "belastingen",
        ),
        (
            "De lantaarnpaal in onze straat is kapot",
            "melding openbare ruimte (straatverlichting)",
            "openbare-ruimte",
        ),
        ("Identiteitskaart kwijt", "identiteitskaart", "burgerzaken"),
    ],
)
def test_classifies_dutch_text(text, product, owner):
    match = ROUTING.classify(hint=None, text=text)
    assert match.product is not None, text
    assert match.product.upl == product
    assert ROUTING.owner_of(match.product) == owner


def test_no_match_goes_to_the_contact_centre():
    match = ROUTING.classify(hint=None, text="Goedemiddag, ik heb een vraag")
    assert match.product is None and match.rule == "no-match"
    assert ROUTING.owner_of(None) == "kcc"


def test_product_hint_wins_and_may_be_a_synonym():
    assert ROUTING.classify(hint="paspoort", text="festival").product.upl == "paspoort"
    assert ROUTING.classify(hint="kliko", text="").product.upl == "afvalcontainer"


def test_social_domain_is_confidential():
    assert ROUTING.product("bijstand").confidential
    assert not ROUTING.product("paspoort").confidential


def test_normalise_and_typos():
    assert normalise("Évènementen-Vergunning!") == "evenementen vergunning"
    assert within_one_edit("vrgunnign", "vergunning") is False  # two edits
    assert within_one_edit("vergunnign", "vergunning")  # swapped letters
    assert within_one_edit("vergunnig", "vergunning")  # missing letter


def test_due_date_skips_weekends_and_holidays():
    friday = datetime(2026, 12, 24, 10, tzinfo=UTC)  # Thursday before Christmas
    # 2 working days: 25 and 26 Dec are holidays, 27 is Sunday -> Mon 28, Tue 29.
    assert add_working_days(friday, 2, ROUTING.closed_days).day == 29
    due = ROUTING.due_at(start=friday, channel=Channel.EMAIL, product=None)
    assert due.day == 29
    permit = ROUTING.product("evenementenvergunning")
    assert ROUTING.due_at(start=friday, channel=Channel.EMAIL, product=permit) > due


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: 1\n: [", "not valid YAML"),
        ("version: x\n", "default_team"),
        (
            "version: x\ndefault_team: kcc\nteams: {kcc: K}\nservice_norms: {default: 5}\n"
            "products: [{upl: fietsenstalling op de maan, owner: kcc, keywords: [x]}]\n",
            "not municipal products of the UPL",
        ),
        (
            "version: x\ndefault_team: kcc\nteams: {kcc: K}\nservice_norms: {default: 5}\n"
            "products: [{upl: paspoort, owner: nobody, keywords: [x]}]\n",
            "owner 'nobody' is not under teams",
        ),
        (
            "version: x\ndefault_team: kcc\nteams: {kcc: K}\nservice_norms: {default: 5}\n"
            "products: [{upl: paspoort, owner: kcc, keywords: [x], surprise: 1}]\n",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_routing_file_is_refused_with_a_clear_message(tmp_path: Path, content, message):
    path = tmp_path / "routing.yaml"
    path.write_text(content)
    with pytest.raises(RoutingFileError, match=message):
        load_routing(path)


def test_normalise_takes_the_ascii_shortcut_to_the_same_words():
    import random
    import re
    import string
    import unicodedata

    def slow(text: str) -> str:  # the general path, for every text
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
        return " ".join(re.findall(r"[a-z0-9]+", plain))

    rng = random.Random(5)
    texts = ["".join(rng.choices(string.printable, k=rng.randint(0, 80))) for _ in range(500)]
    texts += ["Evenementen-Vergunning!", "WOZ-waarde 2026", "IJzer", ""]
    assert all(t.isascii() for t in texts)
    assert [normalise(t) for t in texts] == [slow(t) for t in texts]


@pytest.mark.parametrize(
    ("text", "product"),
    [
        ("Rijbewijs verlengen", "rijbewijs"),
        ("mn rijbwijs is gestolen", "rijbewijs"),  # a typo
        ("De restafvalcontainer zit vol", "afvalcontainer"),  # a compound ending in it
        ("Vraag over de afvalstofheffing", "afvalstoffenheffing"),  # two typos, long word
        ("hoeveel is de hondebelasting", "hondenbelasting"),
        ("De containers zijn niet geleegd", "afvalcontainer"),  # inflected
        ("Mijn auto is weggesleept", "wegsleepregeling"),
        # The product's name outweighs a word that only describes another.
        (
            "Mijn moeder zit in een rolstoel: een gehandicaptenparkeerkaart?",
            "gehandicaptenparkeerkaart",
        ),
        # A tie goes to the product named first.
        ("paspoort en id-kaart tegelijk aanvragen", "paspoort"),
    ],
)
def test_classifies_compounds_inflections_and_typos(text, product):
    match = ROUTING.classify(hint=None, text=text)
    assert match.product is not None, text
    assert match.product.upl == product


def test_a_word_is_only_its_longest_keyword():
    match = ROUTING.classify(hint=None, text="afvalstoffenheffing")
    assert match.product.upl == "afvalstoffenheffing" and match.candidates == ()


def test_weak_words_alone_give_candidates_for_the_contact_centre():
    match = ROUTING.classify(hint=None, text="waar kan ik parkeren bij het gemeentehuis")
    assert match.product is None and match.rule == "low-confidence"
    assert match.candidate_products == ("parkeervergunning",)
    assert match.candidates == ("parkeervergunning (parkeren)",)


def test_other_products_named_are_listed_as_candidates():
    match = ROUTING.classify(hint=None, text="Kliko niet geleegd en de lantaarnpaal is kapot")
    assert match.product.upl == "afvalcontainer"
    assert "melding openbare ruimte (straatverlichting)" in match.candidate_products


def test_common_words_near_a_keyword_are_no_keyword():
    assert ROUTING.classify(hint=None, text="Trouwens, wanneer bent u open?").product is None


def test_follow_up_phrases():
    assert ROUTING.reads_as_follow_up(None, "Zoals ik eerder schreef: nog niets")
    assert ROUTING.reads_as_follow_up("RE: kliko", "Hallo")
    assert ROUTING.reads_as_follow_up("Nog een vraag", "Moet ik iets meenemen?")  # the subject
    assert not ROUTING.reads_as_follow_up("Vraag", "Wat zijn de openingstijden?")


def test_public_holidays_come_from_the_holidays_package():
    # Easter Monday 2030 (22 April) is in no list of the file; Good Friday the municipality
    # is open (open_on); its own closing day 2026-12-31 is skipped too.
    thursday = datetime(2030, 4, 18, 10, tzinfo=UTC)
    assert add_working_days(thursday, 1, ROUTING.closed_days).day == 19  # Good Friday: open
    assert add_working_days(thursday, 2, ROUTING.closed_days).day == 23  # Mon 22 is closed
    wednesday = datetime(2026, 12, 30, 10, tzinfo=UTC)
    assert add_working_days(wednesday, 1, ROUTING.closed_days).day == 4  # 31 Dec, 1 Jan


def test_due_date_counts_from_when_the_resident_sent_it_bounded_by_receipt():
    sent = datetime(2026, 3, 2, 23, 50, tzinfo=UTC)  # Monday night
    processed = datetime(2026, 3, 4, 9, tzinfo=UTC)  # routed on Wednesday
    due = ROUTING.due_at(start=sent, channel=Channel.EMAIL, product=None, received=processed)
    assert due.date() == datetime(2026, 3, 4).date()  # 2 working days after Monday
    ahead = datetime(2026, 3, 9, tzinfo=UTC)  # a clock ahead of receipt counts from receipt
    due = ROUTING.due_at(start=ahead, channel=Channel.EMAIL, product=None, received=processed)
    assert due.date() == datetime(2026, 3, 6).date()
