"""What buyers type, read into values: order numbers, amounts, reasons, outcomes, the
return choice, and which of their orders they name.

Pure functions of the text, with word-boundary patterns: "all" is not found in "small"
or "call", "100" not in "1000", "charged twice" is not a charger that broke, and
"keep" says nothing about the refund. Tested from tables of real phrasings and their
near misses (tests/actions/test_parsing.py).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from actions.backend_client import Order


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(rf"\b(?:{p})\b" for p in patterns), re.IGNORECASE)


# --- order numbers and amounts ------------------------------------------------------------


def normalise_order_id(value: Any) -> str | None:
    """The 16 digits of an order number written with spaces, '#' or the word "order".

    Digits typed in another script or width (full-width digits from an East Asian
    keyboard, Arabic-Indic, superscript) are the same digits.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value))
    digits = "".join(
        str(unicodedata.digit(ch)) for ch in text if unicodedata.digit(ch, None) is not None
    )
    return digits if len(digits) == 16 else None


_NUMBER = re.compile(r"(?<![\d.,])(-|minus\s+)?(\d+(?:[.,]\d{1,2})?)(?!\d|[.,]\d)", re.I)


_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    " fifteen sixteen seventeen eighteen nineteen".split()
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORD = {w: n for n, w in enumerate(_UNITS)} | {w: 20 + 10 * n for n, w in enumerate(_TENS)}
_WORDS_NUMBER = "|".join(sorted(_NUMBER_WORD, key=len, reverse=True))
# "twenty", "twenty five", "twenty-five", "a hundred", "one hundred and twenty".
_NUMBER_IN_WORDS = re.compile(
    rf"\b(?:(?:a|one|{_WORDS_NUMBER})[\s-]+hundred(?:\s+and)?[\s-]*)?"
    rf"(?:{_WORDS_NUMBER})(?:[\s-]+(?:{_WORDS_NUMBER}))?\b|\b(?:a|one)[\s-]+hundred\b",
    re.IGNORECASE,
)
_MONEY_AFTER = re.compile(r"\s*(?:[€$£]|eur(?:o|os)?\b|dollars?\b|pounds?\b|bucks\b|quid\b)", re.I)


def _words_value(words: str) -> int | None:
    """The value of a number written in words ("twenty five", "a hundred"), or None."""
    total, current = 0, 0
    for word in re.findall(r"[a-z]+", words.lower()):
        if word == "hundred":
            total, current = (current or 1) * 100, 0
        elif word in _NUMBER_WORD:
            value = _NUMBER_WORD[word]
            if current and not (current >= 20 and current % 10 == 0 and value < 10):
                return None  # "five six" is two numbers, not one
            current += value
        elif word not in ("a", "and"):
            return None
    return total + current


def digits_for_words(text: str, *, whole: bool = False) -> str:
    """The text with amounts in words written in digits: "twenty euros" -> "20 euros".

    Only a number followed by a currency is an amount ("two weeks" and "the other one"
    are not), unless `whole`: the text answers "How much?" and is the number alone."""

    def replace(found: re.Match[str]) -> str:
        value = _words_value(found.group(0))
        if value is None:
            return found.group(0)
        if whole or _MONEY_AFTER.match(text, found.end()):
            return str(value)
        return found.group(0)

    return _NUMBER_IN_WORDS.sub(replace, text)


# What may come with an amount in words that answers "How much?" ("about twenty euros
# please"); anything else ("the other one", "in two weeks") makes it no amount.
_AMOUNT_FILLERS = frozenset(
    "about around roughly approximately like maybe just only say make it that i want would"
    " like id i'd back refund of please ok okay so um eur euro euros dollar dollars bucks"
    " pounds quid".split()
)


def _amount_in_words_alone(text: str) -> str:
    """The answer in digits when it is a number in words and fillers only, else as is."""
    written = digits_for_words(text, whole=True)
    rest = [w for w in re.findall(r"[a-z']+", written.lower()) if w not in _AMOUNT_FILLERS]
    return written if not rest and written != text else text


def parse_amount(value: Any) -> Decimal | None:
    """'12.50', '12,5', '$12', '15 dollars', 'twenty euros' -> Decimal; anything else ->
    None.

    Two different numbers ("between 5 and 8", "3 or 4 euros") are no amount: the buyer
    is asked for one. A negative amount ("-5 euros") is returned as such, for the form to
    refuse.
    """
    if value is None:
        return None
    text = str(value)
    if not re.search(r"\d", text):
        text = _amount_in_words_alone(text)
    found = {
        (sign is not None and sign != "", n.replace(",", ".")) for sign, n in _NUMBER.findall(text)
    }
    if len(found) != 1:
        return None
    negative, number = found.pop()
    try:
        amount = Decimal(number).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return -amount if negative else amount


_ASKS_FOR_MONEY = _any(r"refund\w*", "back", r"compensat\w*", r"partial\w*", r"reimburs\w*")


_CURRENCY = re.compile(r"[€$£]|\b(?:eur(?:o|os)?|usd|dollars?|pounds?|bucks)\b", re.I)


def names_money(text: str) -> bool:
    """Does the text put a currency on a number ("40 euros", "€20")?"""
    return bool(_CURRENCY.search(text))


def asks_for_money(text: str) -> bool:
    """Does the text ask for money back ("a partial refund of 10 euros"), as opposed to
    naming a price ("I paid 9.99 euros")?"""
    return bool(_ASKS_FOR_MONEY.search(text))


# --- the reason --------------------------------------------------------------------------

_NEGATED = r"(?:not|never|didn'?t|haven'?t|hasn'?t|did not|have not|has not|still not|no)"
REASON_PATTERNS = {
    "not_received": _any(
        _NEGATED + r"\s+(?:\w+\s+){0,2}?(?:receiv\w*|arriv\w*|c[ao]me|got(?:ten)?|deliver\w*"
        r"|show(?:n|ed)? up|turn(?:ed)? up)",
        r"lost",
        r"never (?:came|got it)",
        r"(?:hasn'?t|has not) (?:come|arrived)",
        r"where is my (?:package|parcel|order)",
    ),
    "counterfeit": _any(
        "counterfeit",
        r"fakes?",
        "replica",
        r"knock[- ]?offs?",
        r"copy",
        "imitation",
        r"not (?:the )?(?:original|genuine|authentic|real)",
        "bootleg",
    ),
    "wrong_item": _any(
        "wrong",
        "not what i ordered",
        r"different (?:item|product|model|colou?r|size|one)",
        r"instead of",
        r"(?:ordered|bought) .{1,60}? (?:got|received|came with)",
        r"another (?:item|product)",
    ),
    "missing_parts": _any(
        "missing",
        "incomplete",
        "only one",
        r"not all",
        r"parts?",
        r"without (?:the|a|an|its|any)",
        r"no (?:charger|cable|case|manual|adapter|box|strap)",
        "empty",
    ),
    "damaged": _any(
        r"damag\w*",
        r"broke\w*",
        r"crack\w*",
        r"smash\w*",
        r"shatter\w*",
        r"defect\w*",
        r"(?:not|doesn'?t|does not|won'?t|will not|isn'?t) (?:work\w*|charg\w*|turn on|switch on)",
        "dead",
        "faulty",
        r"scratch\w*",
        "torn",
        r"leak\w*",
        r"dent\w*",
        r"(?:stopped|quit|stops) (?:working|charging|turning on|spinning|heating|cooling|grinding"
        r"|blowing|vibrating|playing|connecting|pairing|holding (?:a )?charge)",
        r"(?:won'?t|doesn'?t|does not|will not|can'?t|cannot) (?:pair|connect|start|fly|heat|cool"
        r"|spin|boot|power on|hold (?:a )?charge)",
        r"died",
        "chipped",
        "snapped",
        r"flicker\w*",
        r"f[ae]ll(?:ing)? apart",
        r"rattl\w*",
        r"overheat\w*",
        "no sound",
        r"burn\w*",
        r"crackl\w*",
        r"buzz\w*",
        "silent",
        r"rip(?:ped)?",
    ),
    "not_as_described": _any(
        r"describ\w*",
        r"descripci\w*",
        "photo",
        "picture",
        "quality",
        "different from",
        "not like",
        "looks nothing",
        r"cheap\w*",
        "material",
        r"smaller",
        r"bigger",
        r"(?:too|very) (?:small|big|large|tight|loose)",
    ),
}
# Checked in this order: "never arrived" is not a damaged item, "fake" is counterfeit
# before "not as described", and "the wrong colour" before a word about looks.
REASON_ORDER = (
    "not_received",
    "counterfeit",
    "wrong_item",
    "missing_parts",
    "damaged",
    "not_as_described",
)


def reason_from_text(text: str) -> str | None:
    for reason in REASON_ORDER:
        if REASON_PATTERNS[reason].search(text):
            return reason
    return None


# --- the outcome and the return ---------------------------------------------------------------

OUTCOME_PATTERNS = {
    "partial_refund": _any(
        r"partial\w*",
        r"part of (?:it|(?:my|the|your) (?:money|price|refund|payment))",
        "some (?:money|of it)",
        "half",
        r"discount\w*",
        r"compensat\w*",
        "a bit back",
        "some back",
    ),
    "full_refund": _any(
        "full",
        r"all (?:(?:of )?(?:my|the) )?money",
        "all of it",
        "whole",
        "entire",
        "everything",
        "complete",
        "every penny",
        r"100 ?%",
        "money back",
        "refund",
    ),
}


# Said unasked, "a refund" or "my money back" chooses nothing: only these do.
_FULL_SAID = _any(
    "full",
    "whole",
    "entire",
    r"all (?:(?:of )?(?:my|the) )?money",
    "all of it",
    "every penny",
    r"100 ?%",
)


def outcome_from_text(text: str) -> str | None:
    """The answer to "full or partial?": partial before full ("a partial refund" also
    says "refund"), and a plain "refund" is a full one."""
    for outcome in ("partial_refund", "full_refund"):
        if OUTCOME_PATTERNS[outcome].search(text):
            return outcome
    return None


def outcome_stated(text: str) -> str | None:
    """The outcome a message chooses without being asked: "a partial refund", "my full
    money back"; "I want a refund" chooses nothing."""
    if OUTCOME_PATTERNS["partial_refund"].search(text):
        return "partial_refund"
    return "full_refund" if _FULL_SAID.search(text) else None


_NEGATION = (
    r"\b(?:no need to|no(?!,)|not|never|without|don'?t|do not|won'?t|will not|can'?t|cannot"
    r"|rather not)\b"
)
# "no, I keep it" says no to the question, not to keeping; so "no" negates only a return.
_VERB_NEGATION = r"\b(?:not|never|don'?t|do not|won'?t|will not|can'?t|cannot)\b"
_WITHIN_A_FEW_WORDS = r"(?:\W+\w+'?\w*){0,4}?\W+"
_SEND_BACK = r"(?:return\w*|send\w*|ship\w*|post\w*|mail\w*)\b"
# Ordered: the first pattern that matches decides; None means "not about the return".
_RETURN_CHOICES = (
    (re.compile(_VERB_NEGATION + _WITHIN_A_FEW_WORDS + r"keep", re.IGNORECASE), True),
    # "keep", "keeping", not "keeps": "it keeps buzzing" is no choice of the buyer's.
    (re.compile(r"\bkeep(?:ing)?\b", re.IGNORECASE), False),
    (re.compile(_NEGATION + _WITHIN_A_FEW_WORDS + _SEND_BACK, re.IGNORECASE), False),
    (re.compile(r"\b" + _SEND_BACK, re.IGNORECASE), True),
)
# Negative words that say yes: "no problem, I'll return it", "I don't mind sending it".
_NOT_A_NEGATION = re.compile(
    r"\b(?:no (?:problem|prob|worries|issue)s?|not a problem|(?:don'?t|do not) mind)\b",
    re.IGNORECASE,
)


def return_choice_from_text(text: str) -> bool | None:
    """Whether a typed answer sends the item back (True), keeps it (False), or says neither:
    "yes, I'll return them", "I'd rather keep it", "I won't ship it back"."""
    text = _NOT_A_NEGATION.sub("fine", text)
    for pattern, returns_item in _RETURN_CHOICES:
        if pattern.search(text):
            return returns_item
    return None


# --- which order -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z]{3,}|\d+")
# Short words that name no product; "hub", "mug", "bag", "fan" and the like do.
_NOT_PRODUCTS = frozenset(
    "the and for you are but not was got has had its his her can did one all any our out why"
    " how who too new now yet use get see way day may say own off let put ask try big old bad"
    " two per via yes ago him she they them this that with from have what when your just".split()
)
_GENERIC = frozenset({"order", "item", "package", "parcel", "product", "dispute"})


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _NOT_PRODUCTS]


def _stems(text: str) -> set[str]:
    return {word.removesuffix("s") for word in _words(text)}


def _one_typo_apart(a: str, b: str) -> bool:
    """Two words of five letters or more one keystroke apart ("speeker", "bakpack")."""
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _shared(title: set[str], said: set[str]) -> int:
    return sum(1 for w in title if w in said or any(_one_typo_apart(w, s) for s in said))


def orders_named(orders: list[Order], text: str) -> list[str]:
    """The orders whose product a message names best ("my backpack", "the earbuds",
    "gadget bundle #30": a number in the title tells alike products apart; a typo of
    one keystroke in a long word still names it: "the speeker")."""
    said = _stems(text) - _GENERIC
    shared = {order.id: _shared(_stems(order.title), said) for order in orders}
    best = max(shared.values(), default=0)
    return [order_id for order_id, count in shared.items() if count and count == best]


_QUALIFIER = re.compile(r"\s(?:for|with|in|from|to|compatible)\s.*", re.IGNORECASE)


def head_noun(title: str) -> str | None:
    """The word a buyer names a product by: the last of its title before any qualifier
    ("Running shoes", "USB-C hub for laptops"), numbers aside."""
    words = [w for w in _words(_QUALIFIER.sub("", title)) if not w.isdigit()] or _words(title)
    return words[-1].removesuffix("s") if words else None


def order_named_alone(orders: list[Order], text: str) -> str | None:
    """The one order a message names by its product ("my bluetooth speaker stopped
    working"), or None. Stricter than `orders_named`: the product's own noun must be there,
    so "I'm running out of time" does not pick the running shoes."""
    titles = {order.id: order.title for order in orders}
    said = _stems(text)
    named = [
        i
        for i in orders_named(orders, text)
        if (noun := head_noun(titles[i])) and _shared({noun}, said)
    ]
    if len(named) > 1:
        # "my earbuds came with a cracked case": the product the buyer calls theirs.
        mine = _stems(" ".join(_MY.findall(text)))
        named = [i for i in named if _shared({head_noun(titles[i]) or ""}, mine)]
    return named[0] if len(named) == 1 else None


# "not the speaker", "instead of the lamp", "rather than my shoes": a product set aside.
_SET_ASIDE = re.compile(
    r"\b(?:not|instead of|rather than|no longer)\s+(?:the|my|this|that|for)?\s*"
    r"[\w-]+(?:\s+(?!(?:but|and|the|my|i|it|one)\b)[\w-]+){0,2}",
    re.IGNORECASE,
)


def order_named_instead(orders: list[Order], text: str) -> str | None:
    """The order a correction names, the one it sets aside left out: "no wait, the shoes
    one, not the speaker" names the shoes; "no sorry, i meant the earbuds" the earbuds.
    A message that tells a problem ("actually the case is cracked") names a part of the
    item, not another order."""
    kept = _SET_ASIDE.sub(" ", text)
    if reason_from_text(kept):
        return None
    return order_named_alone(orders, kept)


# The two words after "my" (or "our"): "my earbuds", "my new phone".
_MY = re.compile(r"\b(?:my|our)\s+(\w+(?:\s+\w+)?)", re.IGNORECASE)


# Only phrases about the *order*: "the wrong one" or "a different item" may well be the
# buyer's reason (a wrong item was sent), not a correction.
_OTHER_ORDER = re.compile(
    r"\b(?:other|another|different|wrong) order\b|\bthe other one\b"
    r"|\bnot (?:this|that|the right) order\b|\border is wrong\b",
    re.IGNORECASE,
)


def names_another_order(text: str) -> bool:
    """ "no, the other order": the chosen order is not the one meant."""
    return bool(_OTHER_ORDER.search(text))


# --- asking how to reach customer service ---------------------------------------------------------

_CONTACT_DETAILS = _any(
    r"phone ?numbers?",
    r"by (?:tele)?phone",
    r"on the phone",
    r"(?:tele)?phone (?:line|support|service|you|the marketplace|customer service|someone)",
    r"(?:contact|support|hotline|call cent(?:er|re)) number",
    r"number (?:to|i can|can i|do i) call",
    r"what number",
    r"e-?mail(?: address)?",
    "twitter",
    "facebook",
    "whatsapp",
    "instagram",
    r"social (?:media|accounts?)",
    r"call (?:you|customer service|support|the marketplace|someone)",
    r"call me(?: back)?",
)


def asks_for_contact_details(text: str) -> bool:
    """Does the buyer ask how to reach customer service themselves ("what's the phone
    number?", "do you have a twitter?") rather than to be put through here?"""
    return bool(_CONTACT_DETAILS.search(text))


_CARRIER = _any(
    r"carriers?",
    r"couriers?",
    r"(?:delivery|shipping|postal|logistics) (?:company|service|firm|guy|driver)",
    r"post ?office",
    "postman",
    r"delivery (?:driver|man|guy)",
    "dhl",
    "ups",
    "fedex",
    "usps",
    "cainiao",
)


def about_the_carrier(text: str) -> bool:
    """Is the buyer asking about the carrier ("how do i contact the courier?"), not the
    seller?"""
    return bool(_CARRIER.search(text))


# --- answers that are not a description ----------------------------------------------------------

_STALL = re.compile(
    r"\b(?:hold on|hang on|wait(?: a (?:sec|second|moment|minute|bit))?"
    r"|(?:just |give me |gimme )?(?:a|one) (?:sec|second|moment|min|minute)"
    r"|brb|be right back|let me (?:check|look|see|think|find out|have a look)"
    r"|i'?ll (?:check|look|have a look)|i need to (?:check|look)|checking|not sure yet)\b",
    re.IGNORECASE,
)
# Words that may come with a request for a moment without telling anything.
_STALL_FILLERS = frozenset(
    "ok okay um umm uh er hmm please pls a bit while first quickly real quick thanks then"
    " and so i it that the box order again on".split()
)
_ONLY_CONFIRMING = re.compile(
    r"^\W*(?:(?:yes|yeah|yep|yup|sure|ok|okay|right|correct|exactly"
    r"|that'?s (?:right|it|correct|all))\W*)+"
    r"(?:(?:please|just|go ahead(?: and)?|and|so|now)\W+)*"
    r"(?:open it|open the dispute|do it|submit it|send it|go|proceed)?"
    r"\W*(?:please|now|thanks?)?\W*$",
    re.IGNORECASE,
)


def is_stalling(text: str) -> bool:
    """Does the buyer only ask for a moment ("hold on, let me check the box") instead of
    answering? "hold on, the screen flickers too" says something, and is no stall."""
    rest, stalls = _STALL.subn(" ", text)
    return stalls > 0 and all(w in _STALL_FILLERS for w in re.findall(r"[a-z']+", rest.lower()))


def only_confirms(text: str) -> bool:
    """Does the message only say yes / go ahead ("yes that's right, open it"), telling
    nothing about the problem?"""
    return bool(_ONLY_CONFIRMING.match(text))


# --- corrections --------------------------------------------------------------------------------

_CORRECTION = _any(
    "actually",
    r"(?:no[,.!]?\s+)?wait",
    "sorry",
    "oops",
    r"i meant",
    r"i mean",
    r"make (?:it|that)",
    r"change (?:it|that|the amount)",
    "instead",
    "rather",
    "correction",
    "hang on",
    "hold on",
    r"not \w+(?: \w+)?,? but",
    r"i (?:changed|change) my mind",
)


def is_correction(text: str) -> bool:
    """Does the message correct something said earlier ("actually make it 20 euros",
    "wait, 12 not 15", "sorry, i meant partial")?"""
    return bool(_CORRECTION.search(text))


_DISCARDED = re.compile(r"\b(?:not|instead of|rather than|no longer)\s+(?:\w+\s+){0,1}$", re.I)
# A number that counts something other than money: "after 3 days", "2 weeks late",
# "1st", "50%", "2 of them", "size 42", "model 3", "4 stars".
_NOT_MONEY_AFTER = re.compile(
    r"\s*(?:-\s*)?(?:days?|weeks?|wks?|months?|years?|yrs?|hours?|hrs?|h|minutes?|mins?|seconds?"
    r"|secs?|nights?|times?|x|pieces?|pcs|items?|units?|pairs?|parcels?|packages?|orders?"
    r"|stars?|%|percent|cm|mm|m|km|kg|g|lbs?|ml|l|gb|tb|mb|mah|w|v|inch(?:es)?|ft"
    r"|st|nd|rd|th|of them)(?![a-z])",
    re.I,
)
_NOT_MONEY_BEFORE = re.compile(
    r"\b(?:size|model|version|gen|generation|series|no\.|number|page|step|day|week|month|year"
    r"|iphone|galaxy|pixel|ps|xbox)\s*$",
    re.I,
)


def _counts_something_else(text: str, start: int, end: int) -> bool:
    return bool(
        _NOT_MONEY_AFTER.match(text, end)
        or _NOT_MONEY_BEFORE.search(text[max(0, start - 20) : start])
    )


def amount_stated(text: str) -> Decimal | None:
    """The one amount a message asks for, numbers it sets aside left out: "make it 20
    euros" (20), "12 not 15" (12), "not 15 but 12" (12), "between 5 and 8" (None).
    Numbers that count something else are no amount: "broke after 3 days, refund 20" (20),
    "after 2 weeks, i want a full refund" (None)."""
    kept = set()
    text = digits_for_words(text)
    for found in _NUMBER.finditer(text):
        if _DISCARDED.search(text[max(0, found.start() - 30) : found.start()]):
            continue
        if _counts_something_else(text, found.start(), found.end()):
            continue
        kept.add(found.group(0).replace(" ", ""))
    return parse_amount(kept.pop()) if len(kept) == 1 else None
