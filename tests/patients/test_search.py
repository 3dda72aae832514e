"""The one search box: each way of finding a patient, ranking, limits and literal input."""
import pytest

from portal.patients.search import MAX_RESULTS, search_patients


def names(app, term, limit=MAX_RESULTS):
    with app.test_request_context():
        return [f"{p.first_name} {p.last_name}" for p in search_patients(term, limit)]


@pytest.fixture
def clinic(register):
    """Six patients; returns {first name: file number}."""
    made = {}
    made["Wanjiru"] = register(first_name="Wanjiru", last_name="Nyambura",
                               phone="0712 345 678", date_of_birth="1990-05-17")
    made["Brian"] = register(first_name="Brian", last_name="Ochieng Otieno",
                             phone="+254723456789", date_of_birth="1985-11-02")
    made["Kevin"] = register(first_name="Kevin", last_name="N'Dege", phone="254-734-567890", date_of_birth="1988-12-01")
    made["Esther"] = register(first_name="Esther", last_name="Nyambura-Otieno",
                              phone="745678901", date_of_birth="1992-04-05")
    made["Zoë"] = register(first_name="Zoë", last_name="Mwangí", phone="0110 123 456", date_of_birth="2001-03-14")
    made["Amina"] = register(first_name="Amina", last_name="Bakari", phone="0799 000 111", date_of_birth="1979-01-30")
    return {name: file_number for name, (_, file_number) in made.items()}


@pytest.mark.parametrize("term", ["wanj", "WANJ", "Wanjirú", "nyamb", "wanjiru nyambura", "nyambura wanj"])
def test_name_words_by_prefix_case_and_accent_insensitive(app, clinic, term):
    assert "Wanjiru Nyambura" in names(app, term)


@pytest.mark.parametrize("term", ["ochieng otieno", "otieno ochieng", "brian otieno", "OCHIE OTI"])
def test_two_words_in_either_order(app, clinic, term):
    assert names(app, term) == ["Brian Ochieng Otieno"]


def test_every_word_must_match(app, clinic):
    assert names(app, "wanjiru otieno") == []


@pytest.mark.parametrize("term,expected", [
    ("zoe", "Zoë Mwangí"), ("mwangi", "Zoë Mwangí"), ("ZOË MWANGÍ", "Zoë Mwangí"),
    ("ndege", "Kevin N'Dege"), ("n'dege", "Kevin N'Dege"), ("N’Dege", "Kevin N'Dege"), ("dege", "Kevin N'Dege"),
    ("nyambura-otieno", "Esther Nyambura-Otieno"), ("esther otieno", "Esther Nyambura-Otieno"),
])
def test_accents_apostrophes_and_hyphens(app, clinic, term, expected):
    assert expected in names(app, term)


@pytest.mark.parametrize("term", ["0712 345 678", "+254712345678", "254-712-345678", "712345678",
                                  "0712345678", "+254 712 345 678", "(0712) 345-678",
                                  "5678", "345678", "45678", "0712 34", "+25471234"])
def test_phone_in_any_format_or_its_ending(app, clinic, term):
    assert names(app, term)[0] == "Wanjiru Nyambura"


def test_phone_stored_from_other_formats(app, clinic):
    assert names(app, "0734 567 890") == ["Kevin N'Dege"]      # registered as 254-734-567890
    assert names(app, "+254745678901") == ["Esther Nyambura-Otieno"]  # registered as 745678901
    assert names(app, "0110123456") == ["Zoë Mwangí"]          # an 01xx number


@pytest.mark.parametrize("shape", ["KL-{:06d}", "kl-{:06d}", "KL{:06d}", "kl {}", "KL-{}", "{}"])
def test_file_number(app, clinic, shape):
    number = int(clinic["Brian"].removeprefix("KL-"))
    assert names(app, shape.format(number))[0] == "Brian Ochieng Otieno"


@pytest.mark.parametrize("term", ["1990-05-17", "17/05/1990", "17-05-1990", "17.05.1990"])
def test_date_of_birth(app, clinic, term):
    assert names(app, term) == ["Wanjiru Nyambura"]


def test_name_with_date_of_birth_narrows(app, clinic, register):
    register(first_name="Wanjiru", last_name="Kamau", phone="0700 111 222", date_of_birth="1975-01-01")
    assert names(app, "wanjiru 17/05/1990") == ["Wanjiru Nyambura"]


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_exact_file_number_ranks_before_phone_endings(app, clinic, register):
    digits = clinic["Kevin"].removeprefix("KL-")
    # Peter's phone ends in Kevin's file number digits; the file number comes first.
    register(first_name="Peter", last_name="Kariuki", phone=f"0711 {digits}", date_of_birth="1970-01-01")
    assert names(app, digits) == ["Kevin N'Dege", "Peter Kariuki"]


def test_exact_phone_ranks_first(app, clinic, register):
    register(first_name="Aaron", last_name="Abdi", phone="+44 7712 345 678", date_of_birth="1970-01-01")
    # Both phones end in 712345678; the one typed in full comes first.
    assert names(app, "712345678") == ["Wanjiru Nyambura", "Aaron Abdi"]


def test_exact_word_ranks_before_longer_names(app, register):
    register(first_name="Kamaua", last_name="Abel", phone="0700 000 001")
    register(first_name="Kama", last_name="Zuri", phone="0700 000 002")
    assert names(app, "kama") == ["Kama Zuri", "Kamaua Abel"]


@pytest.mark.parametrize("term", ["%", "_", "%%", "wan%", "w_njiru", "\\", "'", "' OR 1=1 --",
                                  "<script>alert(1)</script>", "😀", "a" * 5000, "", "   "])
def test_metacharacters_are_literal_and_harmless(app, clinic, term):
    assert names(app, term) == []


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_never_more_than_the_limit(app, register):
    for index in range(MAX_RESULTS + 7):
        register(first_name="John", last_name="Kamau", phone=f"0722 {index:06d}",
                 date_of_birth="1980-01-01", reason="test data")
    assert len(names(app, "kamau")) == MAX_RESULTS
    assert len(names(app, "kamau", limit=10)) == 10
    assert len(names(app, "kamau", limit=10_000)) == MAX_RESULTS
    assert len(names(app, "0722")) == MAX_RESULTS
    assert len(names(app, "1980-01-01")) == MAX_RESULTS


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_search_endpoint_as_you_type(app, client, clinic, login_as):
    login_as("doctor")
    fragment = client.get("/patients/?q=0712%20345%20678", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body and "Wanjiru Nyambura" in body
    assert clinic["Wanjiru"] in body and "…5678" in body and "+254712345678" not in body
    full = client.get("/patients/?q=wanj").get_data(as_text=True)
    assert "<html" in full and "Wanjiru Nyambura" in full
    assert 'hx-trigger="input changed delay:250ms, search"' in full


def test_a_lone_short_word_matches_whole_name_words_only(app, clinic, register):
    register(first_name="Li", last_name="Wei", phone="0700 123 999", date_of_birth="1999-09-09")
    assert names(app, "li") == ["Li Wei"]
    assert names(app, "wa") == []            # not every Wanjiru and Wambui in the clinic
    assert "Wanjiru Nyambura" in names(app, "wan")
    assert names(app, "li we") == ["Li Wei"]  # with a second word, both are prefixes again
