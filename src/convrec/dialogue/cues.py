"""The words of chat messages: act cues, clause and mention splitting, list length, what
looks like a title, and small talk."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum


class Act(str, Enum):
    """What a message asks the recommender to do (a message may carry several)."""

    RECOMMEND = "recommend"
    LIKE = "like"
    DISLIKE = "dislike"
    SEEN = "seen"
    MORE_LIKE = "more_like"
    WHY = "why"
    RATE = "rate"
    ABOUT = "about"
    SET_USER = "set_user"
    DOMAIN = "domain"
    RESET = "reset"
    HELP = "help"
    CHAT = "chat"


# matched on a lower-cased clause; the first act in this order whose cue matches names it.
# The last (weak) one only counts when the clause names an item ("what's the weather").
_CUES: tuple[tuple[Act, re.Pattern[str]], ...] = tuple(
    (act, re.compile(p))
    for act, p in (
        (Act.WHY, r"\bwhy\b|\bexplain\b|\bhow come\b|\bwhat makes you (?:think|say)\b"),
        (
            Act.RATE,
            r"\b(?:how|what) (?:would|will|do|might|should) i (?:rate|score|think of|feel"
            r" about)\b|\bhow (?:would|will|do|might|should) i like\b|\brate\b"
            r"|(?<!what )(?<!else )\bwould i (?:like|enjoy|love|hate|dig)\b"
            r"|\bpredict\w*(?: (?:my|the) (?:rating|score|stars)(?: (?:for|of|on))?)?"
            r"|\b(?:guess|estimate) (?:my|the|what i'?d|how i'?d) (?:rating|score|stars)"
            r"(?: (?:for|of|on))?|\bmy (?:rating|score) (?:for|of|on)\b"
            r"|\bwhat(?: score| rating| stars)? (?:would|will|might|should|do) i (?:give|rate)\b"
            r"|(?<!what )(?<!else )\bwill i (?:like|enjoy|love)\b|\bhow many stars\b"
            r"|\bis (?:it|that one|this one) (?:any )?good\b"
            r"|\bwould (?:it|that|this) be (?:good|my thing)\b",
        ),
        (
            Act.ABOUT,
            r"\btell me (?:more )?about\b|\binfo(?:rmation)? (?:on|about)\b|\bdescribe\b"
            r"|\bwho (?:made|directed|is in)\b|\bmore (?:info|details) (?:on|about)\b"
            r"|\bwhat(?:'s| is) (?:it|that one|this one|the \w+ one) about\b"
            r"|\bwhat (?:would|do|did) you (?:say|think) (?:about|of)\b|\bthoughts on\b"
            r"|\byour (?:take|opinion|thoughts) on\b|\bhave you heard of\b|\bdo you know\b"
            r"|\bwhat(?:'s| is) the (?:deal|story|score) with\b|\bwhat do you know (?:about|of)\b"
            r"|\bwhat (?:year|kind|sort|type|genres?)\b(?: of (?:movies?|films?|things?))?"
            r"(?: (?:is|was|did|does|'s))?|\bwhen (?:did|was|does|is)\b"
            r"|\bwhat(?:'s| is| was|s)(?= .{2,80}\babout\W*$)|\btell me more\b|\bmore info\b"
            r"|\b(?:the )?(?:plot|story|storyline|synopsis|summary|premise) (?:of|for|in)\b",
        ),
        (
            Act.MORE_LIKE,
            r"\b(?:more|something|anything|stuff|movies?|films?|items?|others?|ones?|titles?)"
            r"(?: [\w-]+){0,3}? (?<!'d )(?<!would )(?<!i )(?<!you )(?<!they )like\b"
            r"|\bsimilar to\b|\bin the vein of\b|\balong the lines of\b|\bin the style of\b",
        ),
        (
            Act.SEEN,
            r"\b(?:already|i've|ive|i have|have|i already|we've|we have) (?:already )?(?:seen"
            r"|watched|bought|own|owned|got)\b|^\W*(?:seen|watched|saw)\b"
            r"|\bseen (?:it|that|them|those)\b|\bwatched (?:it"
            r"|that|them)\b|\bi own\b|\bsaw (?:it|that|them|those|the)\b",
        ),
        (
            Act.DISLIKE,
            r"\b(?:hate[sd]?|dislike[sd]?|didn'?t (?:like|enjoy|love)|did not (?:like|enjoy)"
            r"|don'?t (?:like|enjoy|love)|do not (?:like|enjoy)|can'?t stand|cannot stand"
            r"|boring|awful|terrible|not (?:a |the )?(?:\w+ )?fan of"
            r"|not (?:really |too |that |very )?(?:into|keen on|crazy about)"
            r"|no more|avoid|skip|tired of|sick of"
            r"|fed up with|(?:was|is) (?:bad|meh|rubbish|awful)|overrated|worst|sucked|sucks"
            r"|garbage|trash|waste of (?:time|money)|disappointing|a disappointment|dull|lame"
            r"|unwatchable|cringe\w*|fell asleep|dumb|stupid|pointless|forgettable|mediocre"
            r"|horrible|annoying|(?:was|is)n'?t (?:good|great|for me|my thing))\b",
        ),
        (
            Act.LIKE,
            r"\b(?:love[sd]?|loving|(?<!'d )(?<!would )like[sd]?|enjoy(?:ed|s)?|adore[sd]?"
            r"|favou?rites?|fan of|into|a blast|dig|dug|masterpieces?|obsessed|underrated"
            r"|a gem|mind[- ]?blowing|blew my mind|made me cry|grew up (?:on|with)|hooked on"
            r"|better than|my top (?:\d+|\w+ (?:picks|films|movies))|all[- ]time"
            r"|(?<!\ba )(?<!\ban )(?<!feel )(?<!feel-)(?<!some )(?<!something )"
            r"(?<!anything )(?<!nothing )"
            r"(?:great|amazing|awesome|brilliant|good|fun|epic|best|fantastic"
            r"|incredible|excellent|superb|perfect|wonderful|beautiful))\b",
        ),
        (Act.ABOUT, r"\bwhat(?:'s| is| about)\b|\bhow about\b"),
    )
)


def act_of(low: str) -> tuple[Act | None, re.Match[str] | None, bool]:
    """The act a lower-cased clause's cue names, the cue's match, and whether the cue is
    weak (it only counts when the clause names an item)."""
    for at, (act, pattern) in enumerate(_CUES):
        m = pattern.search(low)
        if m is not None:
            return act, m, at == len(_CUES) - 1
    return None, None, False


RECOMMEND = re.compile(
    r"\b(?:recommend\w*|suggest\w*|gimme|what should i|give me|show me|more|another|others|list"
    r"|top \d+|any ideas|something|anything|find me|looking for|in the mood|watch|buy"
    r"|i want|i'?d like|i need|options|picks|again|repeat|same (?:list|ones)|show them"
    r"|next|go on|keep going|continue|what'?s good|anything good|else"
    r"|(?:movie|film|flick)s? (?:pls|plz|please)|\d{1,2} more"
    r"|what (?:else )?(?:would|will|should|might|could) i (?:like|enjoy|love|watch))\b"
)
ASKS = re.compile(
    r"\b(?:recommend\w*|suggest\w*|gimme|give me|show me|something|anything|find me|looking for"
    r"|in the mood|i want|i'?d like|i need|i'?m after|watch|please|movies?|films?|flicks?"
    r"|maybe|how about|what about|nothing|no more|not)\b|^\W*(?:an?|some)\b"
)
RESET = re.compile(
    r"^\W*(?:reset|restart|clear)\b|\b(?:start(?:ing)? (?:over|again|afresh|anew|fresh"
    r"|from scratch)|begin again|new (?:chat|session|conversation)"
    r"|forget everything|forget all (?:of )?that|wipe (?:the slate|everything))\b"
)
GREETING = re.compile(
    r"^\W*(?:hi+|hello+|hey+|hiya|howdy|heya|hola|greetings|good (?:morning|afternoon|evening|day))"
    r"\b(?:\W+(?:there|all|everyone|folks|friend|mate|bot))?[\W_]*"
)
HELP = re.compile(
    r"^\W*(?:help|\?+|what can you do|how does this work|commands|what do you do"
    r"|how do i use (?:this|you))\W*$"
)
USER = re.compile(r"\buser\s*(?:id)?\s*[#:]?\s*([a-z0-9][a-z0-9_-]*)\b", re.I)
QUOTED = re.compile(r"[\"“”]([^\"“”]{2,80})[\"“”]|(?<!\w)'([^']{2,80})'(?!\w)")
SPLIT_MENTIONS = re.compile(
    r"\s*(?:,|\band\b|\bor\b|&|\bplus\b|\bas well as\b|\bnot\b|\binstead of\b|\brather than\b)\s*",
    re.I,
)
CORRECTION = re.compile(
    r"\b(?:i meant|i mean|meant to say|i meant to say|i said the wrong|wrong (?:one|title)"
    r"|correction|typo)\b"
)
# what a title in a message is followed by when it names a sequel ("star wars episode 1")
SEQUEL = re.compile(
    r"(?:\s*:\s*|\s+)(?:(?:episode|part|chapter|vol(?:ume)?\.?)\s*(?:\d{1,2}|[ivx]{1,4}|one|two|three"
    r"|four|five|six|seven|eight|nine)\b"
    r"|(?:[2-9]|ii|iii|iv|vi{0,3})\b(?!\s*(?:stars?|/|out of|\.\d)))",
    re.I,
)
SEQUEL_END = re.compile(rf"(?<=\w)(?:{SEQUEL.pattern})\W*$", re.I)
# words that make a sentence's subject a film: only then is an unknown subject reported
# ("gladiator was epic", not "the weather is great")
FILM_TALK = re.compile(
    r"\b(?:movies?|films?|flicks?|sequels?|prequels?|watch\w*|saw|seen|cinema|masterpieces?"
    r"|epic|underrated|overrated|mind[- ]?blowing|blew my mind|made me cry|obsessed|favou?rites?"
    r"|better than|classics?|a gem|must[- ]see|all[- ]time|my top)\b"
)
# the verb that ends a title at the head of a sentence ("goodfellas is my favourite")
PREDICATE = re.compile(
    r"\s+(?:is|was|are|were|has|had|have|made|makes|will|would|still|always|never|really"
    r"|totally|remains?|became|seems?|looks?|sounds?|felt|feels?|blew|kept|keeps|deserves?"
    r"|got|gets|stays?|holds? up|rocks?|rocked|ruled?|slaps|hits)\b.*$",
    re.I | re.S,
)
_FILLER = re.compile(
    r"^(?:\W+|(?:have you got|(?:any chance |is it possible )?(?:do |that )?you (?:have|got|stock)"
    r"|any chance of|got|is there|sorry|oops|whoops"
    r"|my bad|the films?|the movies?|movies|films|movie|film|ones|favou?rites?|are|were|be"
    r"|include|about|of|to|it|is|was|for|me|i|we|a|an|really|very|watched|saw|seen"
    r"|rewatched|finally|tried"
    r"|so|too|also|much|again|did|do|you|u|ya|recommend(?:ed)?|suggest(?:ed)?|pick|on|the list"
    r"|would|will|rate|like|think|score|watching|seeing|both|totally|absolutely|just|and"
    r"|actually|honestly|definitely|quite|pretty|especially|particularly|mainly|including)\b)+",
    re.I,
)
_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:a lot|so much|very much|too|as well|though|anyway|please|again|lol|haha"
    r"|the most|best|last night|yesterday|recently|before|already|once|was|is|were|are"
    r"|was really|is really|was so|is so|it was|it is|at all|pls|plz|ever|of all time"
    r"|either|honestly|about|come out|came out|released|made|filmed|in there|available"
    r"|in (?:the|this|your) (?:catalog(?:ue)?|list|database|collection))\b)+\s*$",
    re.I,
)
# the start of a phrase that talks about a film's parts or a kind of film, not a title
_NOT_TITLE = re.compile(
    r"^(?:it|its|it's|that|this|these|those|them|they|how|when|what|where|who|why|which"
    r"|the way|their|his|her|my|your|our|all|some|most|any|every|lots?|plenty|each|other"
    r"|yourself|you|us|being|to|because|since|if|whatever|anything|something|nothing"
    r"|stuff|things|everything|movies|films|ones|i|i'm|im|i've|ive|we|he|she|everyone"
    r"|everybody|someone|somebody|nobody|people|today|tonight|wow|omg|oh|ok|okay|yeah|well)\b",
    re.I,
)
_ASPECT = re.compile(
    r"\b(?:characters?|acting|actors?|actress(?:es)?|plot|story|storyline|ending|endings"
    r"|soundtrack|music|score|dialogues?|cast|effects|visuals|cinematography|pacing|humou?r"
    r"|jokes?|twists?|performances?|direction|directing|script|scenes?|setting|atmosphere"
    r"|vibes?|cgi|photography|costumes?|writing|characteri[sz]ation|message|themes?"
    r"|moments?|parts?|bits?|lines?|villains?|heroes?|hero|tone|style|kind|type|sort"
    r"|movies?|films?|flicks?|ones?|stuff|genre|genres|era|decade|years?)\b",
    re.I,
)


# a message that goes on with the previous one ("and the last two", "same for #3")
GO_ON = re.compile(r"\W*(?:and|also|plus|same (?:for|with|goes for)|as well as|oh and|too)\b")
_LEAD = re.compile(
    r"^\W*(?:(?:oh|and|also|plus|as well as|what about|how about|then|too|have you got"
    r"|(?:any chance |is it possible )?(?:do |that )?you (?:have|got|stock)|got|is there"
    r"|any chance of|is)\W+)+",
    re.I,
)
# words of a question to the chat itself, never of a title asked after ("can you do 7?")
NOT_ASKED_TITLE = re.compile(
    r"\b(?:you|u|i|me|we|my|your|can|could|would|should|anyone|anybody|there|here)\b", re.I
)
# a clause that asks after one title ("interstellar?", "have you got inception?")
TITLE_QUESTION = re.compile(
    r"\?\W*$|^\W*(?:what about|how about|have you got|(?:any chance )?(?:do )?you (?:have|got)"
    r"|got|is there|any chance of)\b",
    re.I,
)


def lone_mention(clause: str) -> str:
    """A clause that may be only a title ("also braveheart", "and heat!"), without its lead."""
    return strip_filler(_LEAD.sub("", clause))


def strip_filler(text: str) -> str:
    """``text`` without filler words around it ("the film X again" -> "X")."""
    text = _FILLER.sub("", text.strip()).strip(" ?!.,:;")
    return _TRAILING_FILLER.sub("", " " + text).strip(" ?!.,:;")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMMON = _words(
    "a an the it that this them those these one ones all at though too also either really "
    "very so much lot lots already especially particularly mainly mostly just still again "
    "ever even quite pretty totally definitely absolutely both indeed anyway honestly "
    "actually lately recently before yesterday last night week weekend time times twice once "
    "back then now there here well yes no not ok okay and or but as in on of for with my our "
    "me we i you kids kid wife husband family friends son daughter together sure maybe "
    "pls plz please seriously huh what why really right wait hmm cool nice wow oh ah eh"
)


def only_common(mention: str) -> bool:
    """Whether a mention is only everyday words ("already", "at all", "with my kids")."""
    words = re.findall(r"[a-z']+", mention.lower())
    return all(w in _COMMON for w in words)


def title_like(mention: str, strict: bool = False) -> bool:
    """Whether a mention after a like / dislike cue could be a title (not "great
    characters", "the way it ends", "old movies", "at all"); ``strict`` also requires at
    most six words."""
    words = mention.split()
    if not words or len(words) > (6 if strict else 10) or only_common(mention):
        return False
    return not (_NOT_TITLE.match(mention) or _ASPECT.search(mention))


_CONTENT_STOP = _words(
    "a an the some any something anything me i you please movie movies film films "
    "flick flicks watch to for of with give show find want like would i'd need "
    "in mood maybe how what about one good nice"
)


def content(text: str) -> list[str]:
    """The words of a request that may describe something (not "give me a movie")."""
    return [w for w in re.findall(r"[a-z][a-z'-]*", text.lower()) if w not in _CONTENT_STOP]


_CLAUSE_END = re.compile(
    r"(?<!\b[a-z]\.)(?<!\bmr\.)(?<!\bmrs\.)(?<!\bdr\.)(?<!\bst\.)(?<!\bms\.)(?<!\bjr\.)"
    r"(?<!\bvs\.)(?<!\bno\.)(?<!\.\.\.)(?<=[.!?;])\s+"
    r"|\s+\b(?:but|however|though|although|except that)\b\s+|\s+-\s+|\n+"
    r"|,\s*(?=(?:and\s+|but\s+|also\s+)?(?:i|i'm|i've|i'd|we)\b)",
    re.I,
)
_REWRITE = (
    (re.compile(r"\b(anything|everything|all|whatever)\s+but\b", re.I), r"\1 except"),
    (re.compile(r"\bnothing\s+but\b", re.I), "only"),
    (re.compile(r"\bbut\s+not\b", re.I), ", not"),
)


def rewrite(text: str) -> str:
    """Phrases whose "but" is no clause break ("anything but westerns", "but not")."""
    for pattern, by in _REWRITE:
        text = pattern.sub(by, text)
    return text


def clauses(text: str, keep: Sequence[tuple[int, int]] = ()) -> list[str]:
    """Sentences and "but" clauses; initials, "Mr." / "Dr." and the ``keep`` spans (titles
    such as "Love! Valour! Compassion!") are never broken."""
    out: list[str] = []
    start = 0
    for m in _CLAUSE_END.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in keep):
            continue
        out.append(text[start : m.start()])
        start = m.end()
    out.append(text[start:])
    blank = "".join(" " if any(a <= i < b for a, b in keep) else ch for i, ch in enumerate(text))
    pieces: list[str] = []
    at = 0
    for piece in out:
        pieces += _by_cue(piece, blank[at : at + len(piece)]) if piece.strip() else []
        at = text.find(piece, at) + len(piece) if piece else at
    return pieces


def _by_cue(piece: str, blank: str) -> list[str]:
    """A clause split at commas where a part starts a different act ("I like Heat, not into
    horror"); ``blank`` is the clause with its titles blanked out (no cue inside a title)."""
    out: list[str] = []
    start = 0
    act, _, _ = act_of(blank.split(",", 1)[0].lower())
    for m in re.finditer(r",", blank):
        nxt = blank[m.end() :].split(",", 1)[0]
        new, _, weak = act_of(nxt.lower())
        if act is not None and new is not None and new != act and not weak:
            out.append(piece[start : m.start()])
            start, act = m.end(), new
    out.append(piece[start:])
    return [c for c in out if c.strip()]


_NUMBER = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "a couple of": 2, "a couple": 2,
    "a few": 3,
}  # fmt: skip
_N = (
    r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty"
    r"|a couple(?: of)?|a few)"
)
_K = re.compile(
    rf"\b(?:top|give me|show me|recommend|suggest|list|just|only|need|want)\s+{_N}\b(?!\s*'?s\b)"
    rf"(?!\s+(?:of them|ones?\b))|\b{_N}\s+(?:more\s+|other\s+|new\s+|good\s+|great\s+)?"
    r"(?:movies|films|items|recommendations|suggestions|picks|titles|products|options|ideas)\b"
    rf"|\b(?:make (?:it|that|them|the list)|change (?:it|that)(?: to)?|set (?:it|that) to"
    rf"|(?:bump|increase|raise|cut|drop) (?:it|that)? ?(?:up |down )?to|like|say|only|just|see"
    rf"|get|have|want|need|do)\s+{_N}"
    r"\s*(?=$|[?!.,]|please\b|pls\b|instead\b|then\b|items\b|ones\b|more\b)"
    rf"|\b{_N}\s+more\b(?!\s+(?:like|than|of)\b)"
)


def list_length(low: str) -> int | None:
    """The list length a message asks for ("top 3", "give me five movies"), 1 to 50."""
    m = _K.search(low)
    if m is None:
        return None
    word = next(g for g in m.groups() if g)
    n = int(word) if word.isdigit() else _NUMBER[word]
    return max(1, min(50, n))


def only_list_length(text: str) -> bool:
    """Whether ``text`` only asks for a list length ("top 10", "give me 5 please")."""
    low = text.lower()
    m = _K.search(low)
    if m is None:
        return False
    rest = (low[: m.start()] + " " + low[m.end() :]).strip(" ?!.,:;")
    return not rest or only_common(rest)


_SMALL_TALK = (
    ("thanks", r"\b(?:thanks?|thank you|thx|tnx|ty|cheers|much appreciated|appreciate it)\b"),
    ("bye", r"\b(?:bye|goodbye|see you|see ya|good night|gotta go|that'?s all|later)\b"),
    ("how", r"\bhow are (?:you|u)\b|\bhow'?s it going\b|\bhow do you do\b|\bwhat'?s up\b|\bsup\b"),
    (
        "who",
        r"\bwho are you\b|\bwhat are you\b|\bare you (?:a |an )?(?:bot|human|real|ai|robot)"
        r"\b|\byour name\b",
    ),
    (
        "greeting",
        r"^\W*(?:hi+|hello+|hey+|hiya|howdy|yo|good (?:morning|afternoon|evening)"
        r"|greetings|hola|heya)\b",
    ),
    (
        "ack",
        r"^\W*(?:ok(?:ay)?|k|cool|nice|great|awesome|sure|alright|fine|yes|yeah|yep|no|nope"
        r"|nah|hmm+|um+|wow|perfect|sounds good|got it|interesting|lol|lmao|haha\w*|hehe\w*"
        r"|rofl|:\)|:d|xd|good|amazing|love it|neat)\W*$",
    ),
)


def small_talk(low: str) -> str:
    """The kind of a message that asks nothing of the recommender: ``"thanks"``, ``"bye"``,
    ``"how"``, ``"who"``, ``"greeting"``, ``"ack"`` or ``"other"`` (off topic, nonsense)."""
    for kind, pattern in _SMALL_TALK:
        if re.search(pattern, low):
            return kind
    return "other"
