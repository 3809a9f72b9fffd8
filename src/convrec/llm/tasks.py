"""The LLM tasks (rating, ranking in two forms, explanation) and the template registry:
paraphrased prompts per task, some held out."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import Enum


class Task(str, Enum):
    """What a prompt asks for; the value is the name used in configs and records."""

    RATING = "rating"
    RANKING = "ranking"
    EXPLANATION = "explanation"
    NEXT = "next"
    """Ranking in generative form: the prompt holds the user's history alone and the target is
    the next item's title; a candidate's score is the log-likelihood of its title, so the
    encoder runs once per user whatever the number of candidates (``LLMConfig.ranking``)."""
    RERANK = "rerank"
    """Re-ranking the CF engine's candidates: the prompt holds the user's history alone (encoded
    once per user); the decoder reads each candidate with its CF evidence (:data:`RERANK_CUE`)
    and answers yes / no, so the score is ``log P(yes) - log P(no)`` at the end of it."""


@dataclass(frozen=True)
class PromptFields:
    """Typed text fields a template may use; every field is plain text, possibly empty.

    Attributes
    ----------
    item : str
        Target item description: title, year, genres (for ranking: the candidate).
    keywords : str
        Item keywords learned from training reviews (review data only).
    profile : str
        The user's profile: a few recent / top-rated titles with the user's ratings (for
        ranking: taken from the history before the target, so "recent" means "just before").
    evidence : str
        CF evidence for the target: the user's history items nearest to it by ItemKNN
        similarity, with the user's own ratings of them.
    stats : str
        The item's mean training rating (the pair itself left out) and the neighbours'
        (similarity-weighted) mean of the user's ratings.
    facts : str
        The true facts that speak for the item (:func:`convrec.facts.render.facts_text`): the
        user's liked titles closest to it, how the people who liked them rated it, shared
        genres, its standing (explanation templates that show it: their targets are
        rendered from these facts on data without reviews).
    """

    item: str = ""
    keywords: str = ""
    profile: str = ""
    evidence: str = ""
    stats: str = ""
    facts: str = ""

    def as_dict(self) -> dict[str, str]:
        """Field name -> text."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


FIELD_NAMES = frozenset(f.name for f in fields(PromptFields))

TASK_FIELDS: Mapping[Task, frozenset[str]] = {
    Task.RATING: frozenset({"item", "keywords", "profile", "evidence", "stats"}),
    Task.RANKING: frozenset({"item", "keywords", "profile", "evidence", "stats"}),
    Task.EXPLANATION: frozenset({"item", "keywords", "profile", "evidence", "stats", "facts"}),
    Task.NEXT: frozenset({"profile"}),  # the history only: the target is the item itself
    Task.RERANK: frozenset({"profile"}),  # the candidate is read by the decoder
}
"""Fields each task may show."""

RANKING_ANSWERS = ("no", "yes")
"""Ranking is pointwise: "is this candidate the user's next item?" answered by one of these
words; the candidate's score is log P(yes) - log P(no) at the first decoder step."""

RERANK_CUE = "next?"
"""Ends every candidate text of the rerank task: the answer is read right after it."""


@dataclass(frozen=True)
class Template:
    """One paraphrase of a task prompt.

    Attributes
    ----------
    id : str
        Unique name, ``"<task>-<n>"``.
    task : Task
    text : str
        A ``str.format`` string over :class:`PromptFields` names.
    held_out : bool
        Kept out of training, for the unseen-template evaluation.
    opt_in : bool
        Trained only when named (``TrainConfig.templates``), not drawn by default, so that
        the runs behind existing adapters keep their template pools.
    """

    id: str
    task: Task
    text: str
    held_out: bool = False
    opt_in: bool = False

    @property
    def placeholders(self) -> frozenset[str]:
        """Field names the text refers to."""
        return frozenset(
            name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None
        )

    def render(self, values: PromptFields) -> str:
        """The prompt text; empty fields collapse so no dangling separators remain."""
        text = self.text.format(**values.as_dict())
        return " ".join(text.split()).replace(" .", ".").replace("..", ".")


# The templates are data: add a paraphrase here, nothing else changes.
_TEMPLATES: tuple[Template, ...] = (
    Template(
        "rating-1",
        Task.RATING,
        "predict the rating of {item}. {keywords} similar items: {evidence}. {stats}. rating:",
    ),
    Template(
        "rating-2",
        Task.RATING,
        "how many stars will the user give {item}? similar items the user rated: {evidence}. "
        "{stats}. {keywords} the user also rated {profile}.",
    ),
    Template(
        "rating-3",
        Task.RATING,
        "user rated {profile}. {evidence} are close to {item}. {stats}. {keywords} score 1 to 5:",
    ),
    Template(
        "rating-4",
        Task.RATING,
        "given the ratings {profile} and neighbours {evidence}, rate {item} ({stats}). {keywords}",
        held_out=True,
    ),
    Template(
        "rating-5",
        Task.RATING,
        "{item}. {keywords} {evidence}. {stats}. rating:",
        opt_in=True,
    ),
    Template(
        "ranking-1",
        Task.RANKING,
        "will the user pick {item} next? recently: {profile}. similar items: {evidence}. "
        "{stats}. {keywords} yes or no:",
    ),
    Template(
        "ranking-2",
        Task.RANKING,
        "the user's latest items: {profile}. is {item} a likely next choice? {stats}. "
        "close items they rated: {evidence}. {keywords}",
    ),
    Template(
        "ranking-3",
        Task.RANKING,
        "after {profile}, does the user choose {item}? neighbours: {evidence}. {stats}. {keywords}",
    ),
    Template(
        "ranking-4",
        Task.RANKING,
        "candidate {item} ({stats}). {keywords} history: {profile}. related: {evidence}. "
        "next item, yes or no?",
        held_out=True,
    ),
    Template(
        "explanation-1",
        Task.EXPLANATION,
        "explain why the user would like {item}. {keywords} similar items rated: {evidence}. "
        "{stats}.",
    ),
    Template(
        "explanation-2",
        Task.EXPLANATION,
        "write a short review of {item} for this user. {keywords} user history: {profile}. "
        "similar items: {evidence}.",
    ),
    Template(
        "explanation-3",
        Task.EXPLANATION,
        "{item}. {keywords} evidence: {evidence}. {stats}. summary:",
    ),
    Template(
        "explanation-4",
        Task.EXPLANATION,
        "in one sentence, what would the user say about {item}? neighbours: {evidence}. {keywords}",
        held_out=True,
    ),
    Template(
        "explanation-5",
        Task.EXPLANATION,
        "explain why the user would like {item}, citing these facts: {facts}.",
        opt_in=True,
    ),
    Template(
        "explanation-6",
        Task.EXPLANATION,
        "{item}. facts: {facts}. why recommend it?",
        opt_in=True,
    ),
    Template("next-1", Task.NEXT, "the user's latest items: {profile}. which item comes next?"),
    Template("next-2", Task.NEXT, "after {profile}, the user picks"),
    Template("next-3", Task.NEXT, "history: {profile}. next item:", held_out=True),
    Template(
        "rerank-1", Task.RERANK, "the user's latest items: {profile}. is this candidate next?"
    ),
    Template("rerank-2", Task.RERANK, "after {profile}, would the user pick this item?"),
    Template("rerank-3", Task.RERANK, "history: {profile}. candidate:", held_out=True),
)


class TemplateRegistry:
    """Templates per task; validates placeholders against :data:`TASK_FIELDS`.

    Parameters
    ----------
    templates : iterable of Template
        Ids must be unique; every task needs at least one training template.
    """

    def __init__(self, templates: Iterable[Template]) -> None:
        self._by_id: dict[str, Template] = {}
        for t in templates:
            if t.id in self._by_id:
                raise ValueError(f"duplicate template id {t.id!r}")
            unknown = t.placeholders - TASK_FIELDS[t.task]
            if unknown:
                raise ValueError(
                    f"template {t.id!r} uses fields {sorted(unknown)} not shown to {t.task.value}"
                )
            if t.held_out and t.opt_in:
                raise ValueError(f"template {t.id!r} cannot be both held out and opt-in")
            self._by_id[t.id] = t
        for task in Task:
            if not self.training(task):
                raise ValueError(f"no training template for task {task.value!r}")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __getitem__(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            raise KeyError(
                f"unknown template {template_id!r}; known: {sorted(self._by_id)}"
            ) from None

    def for_task(self, task: Task | str) -> list[Template]:
        """All templates of a task, registry order."""
        task = Task(task)
        return [t for t in self._by_id.values() if t.task is task]

    def training(self, task: Task | str) -> list[Template]:
        """Templates drawn for training by default (neither held out nor opt-in)."""
        return [t for t in self.for_task(task) if not (t.held_out or t.opt_in)]

    def held_out(self, task: Task | str) -> list[Template]:
        """Templates kept for the unseen-template evaluation."""
        return [t for t in self.for_task(task) if t.held_out]

    def default(self, task: Task | str) -> Template:
        """The first training template: the one inference uses unless told otherwise."""
        return self.training(task)[0]

    def words(self) -> list[str]:
        """Every literal word of every template (for building a tiny test vocabulary)."""
        out: list[str] = []
        for t in self:
            for literal, _, _, _ in string.Formatter().parse(t.text):
                out += literal.split()
        return out


REGISTRY = TemplateRegistry(_TEMPLATES)
"""The built-in templates: four paraphrases per task (three for ``next`` and ``rerank``), the
last of each held out, plus the opt-in ``rating-5``: the rating fields with no words but the
cue (about 12% fewer encoder tokens than ``rating-1`` on ml-100k, about 10% faster to score),
trained by ``--templates rating-5``, which also makes it the adapter's rating template; and the
opt-in ``explanation-5`` and ``explanation-6``, which show the item's facts (``--templates
explanation-5,explanation-6``: explanations that cite them, on data without reviews)."""
