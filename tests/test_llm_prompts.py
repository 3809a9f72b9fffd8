"""Template registry and prompt building: held-out templates, evidence, and no target leaks."""

import dataclasses
import sys

import numpy as np
import pytest

from convrec.evaluation.splits import random_split
from convrec.llm import REGISTRY, PromptBuilder, Task, Template, TemplateRegistry
from convrec.llm.tasks import PromptFields
from convrec.recommender.neighbours import item_neighbours


def test_llm_package_imports_without_torch(tmp_path):
    import subprocess

    code = "import sys, convrec, convrec.llm; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False"


def test_every_task_has_training_and_held_out_paraphrases():
    for task in Task:
        assert len(REGISTRY.training(task)) >= 2
        assert len(REGISTRY.held_out(task)) >= 1
        assert REGISTRY.default(task).held_out is False
    assert len({t.text for t in REGISTRY}) == len(REGISTRY)


def test_registry_rejects_fields_a_task_may_not_see():
    good = [Template(f"{t.value}-x", t, "{profile}") for t in Task]
    with pytest.raises(ValueError, match="not shown to ranking"):
        TemplateRegistry([*good, Template("bad", Task.RANKING, "{item} {rating}")])
    with pytest.raises(ValueError, match="duplicate"):
        TemplateRegistry([*good, good[0]])
    with pytest.raises(ValueError, match="both held out and opt-in"):
        TemplateRegistry([*good, Template("odd", Task.RATING, "{item}", True, True)])
    with pytest.raises(ValueError, match="no training template for task 'rating'"):
        only = [t for t in good if t.task is not Task.RATING]
        TemplateRegistry([*only, Template("r", Task.RATING, "{item}", opt_in=True)])


@pytest.fixture(scope="module")
def fitted(llm_data):
    split = random_split(llm_data)
    return PromptBuilder().fit(llm_data, split.train, item_neighbours(llm_data, split.train)), split


def test_training_records_never_use_held_out_or_opt_in_templates(fitted):
    builder, split = fitted
    held = {t.id for t in REGISTRY if t.held_out}
    for task in Task:
        records = builder.records(task, split.train)
        assert len(records) == len(split.train)
        used = {r.template for r in records}
        assert used == {t.id for t in REGISTRY.training(task)}
        assert not used & held and not used & {t.id for t in REGISTRY if t.opt_in}
        unseen = builder.records(task, split.test, templates="held_out")
        assert {r.template for r in unseen} <= held


def test_prompt_carries_profile_evidence_and_item_text(fitted, llm_data):
    builder, split = fitted
    row = int(split.test[0])
    u, i = int(llm_data.user[row]), int(llm_data.item[row])
    fields = builder.fields(u, i)
    assert builder.title(i) in fields.item and str(llm_data.catalog.year[i]) in fields.item
    hist_items, hist_ratings = builder.history(u)
    rated = dict(zip(hist_items.tolist(), hist_ratings.tolist(), strict=True))
    sim = builder.neighbours.similarity_
    nbr = set(sim.indices[sim.indptr[i] : sim.indptr[i + 1]].tolist()) & set(rated)
    assert nbr, "the synthetic data should give this pair CF evidence"
    for j in nbr:
        if builder.title(j) in fields.evidence:
            assert f"{builder.title(j)}: {rated[j]:g}" in fields.evidence
    train_i = split.train[llm_data.item[split.train] == i]
    assert f"item mean {llm_data.rating[train_i].mean():.1f}" in fields.stats
    assert "user mean" not in fields.stats  # left out on purpose: it stalled training (README)
    assert fields.keywords.startswith("keywords:")


def test_keywords_come_from_training_reviews_only(llm_data):
    texts = list(llm_data.review_text)
    split = random_split(llm_data)
    for r in split.test:
        texts[r] = texts[r] + " zzzsecret zzzsecret"
    data = dataclasses.replace(llm_data, review_text=texts)
    builder = PromptBuilder().fit(data, split.train, item_neighbours(data, split.train))
    prompts = builder.prompts(Task.RATING, data.user[split.test], data.item[split.test])
    assert not any("zzzsecret" in p for p in prompts)


def _perturbed(data, row):
    rating = data.rating.copy()
    rating[row] = 6.0 - rating[row] if rating[row] != 3 else 1.0
    summary = list(data.summary)
    summary[row] = "completely different words here"
    return dataclasses.replace(data, rating=rating, summary=summary)


@pytest.mark.parametrize("task", list(Task))
def test_target_never_leaks_into_its_prompt(llm_data, task):
    """For every template: the target is not in the prompt, and changing it changes nothing."""
    split = random_split(llm_data)
    rows = split.train[:25]
    builder = PromptBuilder().fit(llm_data, split.train, item_neighbours(llm_data, split.train))
    for template in REGISTRY.for_task(task):
        records = builder.records(task, rows, templates=template.id)
        for rec in records:
            assert rec.target, rec
            if task in (Task.EXPLANATION, Task.NEXT):  # digits, yes / no appear elsewhere
                assert rec.target.lower() not in rec.source.lower(), rec
        for k, rec in enumerate(records[:8]):
            changed = _perturbed(llm_data, rec.row)
            other = PromptBuilder().fit(changed, split.train, item_neighbours(changed, split.train))
            again = other.records(task, rows, templates=template.id)[k]
            assert again.source == rec.source, (template.id, rec.row)
            if task not in (Task.RANKING, Task.NEXT, Task.RERANK):  # targets: not the rating
                assert again.target != rec.target


def test_explanation_targets_are_varied_true_facts_shown_in_the_prompt(llm_data):
    import re

    from convrec.data.titles import TitleIndex
    from convrec.facts import FactChecker, Liked

    data = dataclasses.replace(llm_data, review_text=None, summary=None)
    split = random_split(data)
    builder = PromptBuilder().fit(data, split.train, item_neighbours(data, split.train))
    titles = TitleIndex(data.catalog.title, data.catalog.year, np.ones(data.n_items))
    check = FactChecker(titles, builder.book)
    records = builder.records(Task.EXPLANATION, split.train[:60], templates="explanation-5")
    for rec in records:
        items, ratings = builder.history(rec.user, exclude_item=rec.item)
        rated = dict(zip(items[::-1].tolist(), ratings[::-1].tolist(), strict=True))
        liked = Liked.of(np.asarray(list(rated), np.int32), rated, 4.0, rec.user)
        facts = builder.item_facts(items, ratings, rec.item, rec.row, rec.user)
        assert check.check(rec.target, rec.item, liked, facts).ok, rec.target
        for m in titles.spot(rec.target):  # a title cited is one the user rated >= 4
            assert m.item == rec.item or rated[m.item] >= 4, rec.target
        said = re.findall(
            r"\d+(?:\.\d)?", re.sub(r"\(\d{4}\)|\b[A-Z][a-z]+ [A-Z][a-z]+ \d+", "", rec.target)
        )
        assert all(n in rec.source for n in said), (rec.source, rec.target)  # facts in the prompt
        assert "not for you" not in rec.target and "average match" not in rec.target
    shapes = {
        re.sub(r"[A-Z][a-z]+ [A-Z][a-z]+ \d+ \(\d{4}\)|\d+(\.\d)?", "#", r.target) for r in records
    }
    assert len(shapes) >= 6  # several phrasings, different facts per example


def test_items_without_titles_are_named_by_id(llm_data):
    catalog = dataclasses.replace(llm_data.catalog, title=list(llm_data.items.external))
    data = dataclasses.replace(llm_data, catalog=catalog)
    builder = PromptBuilder().fit(
        data, train := random_split(data).train, item_neighbours(data, train)
    )
    assert builder.title(3) == f"item {data.items.external[3]}"


def _middle_rows(data, rows, n):
    """Rows in the middle of their user's history (in time), for users with >= 6 rows."""
    out = []
    for u in np.unique(data.user[rows]):
        mine = rows[data.user[rows] == u]
        mine = mine[np.lexsort((data.item[mine], data.timestamp[mine]))]
        if len(mine) >= 6:
            out.append(int(mine[len(mine) // 2]))
        if len(out) == n:
            break
    return np.array(out, np.int64)


def test_ranking_examples_are_positives_and_unseen_hard_negatives(fitted, llm_data):
    builder, split = fitted
    rows = split.train[:400]
    examples = builder.ranking_examples(rows, seed=3)
    answers = np.array([a for *_, a in examples])
    assert set(answers) == {"yes", "no"} and 0.4 < (answers == "yes").mean() < 0.6
    for r, (u, i, before, answer) in zip(rows.tolist(), examples, strict=True):
        assert before == r and u == llm_data.user[r]
        if answer == "yes":
            assert i == llm_data.item[r]
        else:  # never an item of the user's training history
            assert i not in set(builder.history(u)[0].tolist())
    assert builder.ranking_examples(rows, seed=3) == examples  # seeded


@pytest.mark.parametrize("task", [Task.RANKING, Task.NEXT])
def test_ranking_prompts_see_only_the_past_of_their_row(fitted, llm_data, task):
    """Changing what the user did at and after the row changes nothing in its prompt."""
    builder, split = fitted
    rows = _middle_rows(llm_data, split.train, 12)
    assert len(rows) == 12
    records = builder.records(task, rows, seed=5)
    for k, rec in enumerate(records):
        u, ts = llm_data.user[rec.row], llm_data.timestamp[rec.row]
        later = np.flatnonzero(
            (llm_data.user == u)
            & (
                (llm_data.timestamp > ts)
                | ((llm_data.timestamp == ts) & (llm_data.item >= llm_data.item[rec.row]))
            )
        )
        rating = llm_data.rating.copy()
        rating[later] = np.where(rating[later] >= 3, 1.0, 5.0)
        changed = dataclasses.replace(llm_data, rating=rating)
        other = PromptBuilder().fit(changed, split.train, item_neighbours(changed, split.train))
        again = other.records(task, rows, seed=5)[k]
        assert (again.item, again.target) == (rec.item, rec.target)
        assert again.source == rec.source, rec.row
        history = builder.history(int(u), before_row=rec.row)[0]
        assert not set(history.tolist()) & set(llm_data.item[later].tolist())


def test_next_prompts_show_the_history_and_target_the_title(fitted, llm_data):
    builder, split = fitted
    users = np.unique(llm_data.user[split.train])[:5]
    prompts = builder.history_prompts(Task.NEXT, users)
    for u, prompt in zip(users.tolist(), prompts, strict=True):
        items, ratings = builder.history(u)
        profile = PromptFields(profile=builder.profile_text(items, ratings))
        assert prompt == REGISTRY.default(Task.NEXT).render(profile)
        assert builder.title(int(items[0])) in prompt  # the newest item leads the profile
    again = builder.history_prompts_for(Task.NEXT, [builder.history(u) for u in users.tolist()])
    assert again == prompts
    rec = builder.records(Task.NEXT, split.train[:3], seed=1)[0]
    assert rec.target == builder.title(rec.item)
    with pytest.raises(ValueError, match="needs a target item"):
        builder.history_prompts(Task.RANKING, users)


def test_rerank_rows_lists_and_texts_use_only_the_past_of_their_row(fitted, llm_data):
    builder, split = fitted
    rows = split.train[:300]
    kept, lists = builder.rerank_lists(rows)
    assert 0 < len(kept) < len(rows) and lists.shape == (len(kept), builder.config.n_negatives)
    assert set(kept.tolist()) <= set(rows.tolist())
    assert all(llm_data.item[r] in row for r, row in zip(kept, lists, strict=True))
    for r, row in list(zip(kept.tolist(), lists, strict=True))[:20]:
        items, ratings = builder.history(int(llm_data.user[r]), before_row=r)
        assert np.array_equal(builder.cf_top([items])[0], row)  # the list of that moment
        assert not set(row.tolist()) & set(items.tolist())  # nothing already seen
        target = int(llm_data.item[r])
        text = builder.candidate_text(
            items, ratings, target, 1 + int(np.flatnonzero(row == target)[0])
        )
        rank = 1 + int(np.flatnonzero(row == target)[0])
        assert text.startswith(builder.title_year(target)) and f" rank {rank} near " in text
        steps_back = [int(p.split(":")[0]) for p in text.split(" near ")[1].split()[:-1]]
        assert 1 <= len(steps_back) <= builder.config.rerank_evidence
        assert all(1 <= p <= len(items) for p in steps_back)  # evidence from this history only
        rec = builder.records(Task.RERANK, np.array([r]))[0]
        assert rec.target == "yes" and builder.title(target) not in rec.source
    items, ratings = builder.history(int(llm_data.user[kept[0]]))
    text = builder.candidate_text(items, ratings, int(lists[0][0]), 0)
    assert " unranked near " in text and text.endswith("next?")


def test_short_rerank_text_shows_the_nearest_items_steps_back_and_ratings(fitted):
    builder, _ = fitted
    items = np.array([7, 3, 11, 5], np.int32)  # newest first
    ratings = np.array([4, 2, 5, 1], np.float32)
    item = next(i for i in range(builder.data.n_items) if i not in items.tolist())
    nearest = [int(i) for i in builder._history_neighbours(items, item)[0][:2]]
    shown = " ".join(
        f"{int(np.flatnonzero(items == i)[0]) + 1}:{int(ratings[items == i][0])}" for i in nearest
    )
    text = builder.candidate_text(items, ratings, item, 4)
    assert text == f"{builder.title_year(item)} rank 4 near {shown or 'none'} next?"
    empty = builder.candidate_text(items[:0], ratings[:0], item, 0)
    assert empty == f"{builder.title_year(item)} unranked near none next?"


def test_keywords_rerank_text_reads_the_items_own_words_without_the_examples_review(
    fitted, llm_data
):
    from convrec.llm.prompts import PromptConfig

    short, split = fitted
    words = PromptBuilder(PromptConfig(rerank_text="keywords")).fit(
        llm_data, split.train, item_neighbours(llm_data, split.train)
    )
    row = int(split.train[0])
    items, ratings = words.history(int(llm_data.user[row]), before_row=row)
    item = int(llm_data.item[row])
    plain = short.candidate_text(items, ratings, item, 2)
    text = words.candidate_text(items, ratings, item, 2)
    genres = " / ".join(llm_data.catalog.genres[item]).lower()
    keywords = words.keywords.text(item, -1)
    assert keywords.startswith("keywords: ") and genres
    assert text == plain.replace(" rank 2 ", f" {genres} {keywords} rank 2 ", 1)
    own = words.candidate_text(items, ratings, item, 2, own_row=row)
    assert words.keywords.text(item, row) != keywords  # this review moves the keywords
    assert f" {words.keywords.text(item, row)} rank 2 " in own  # ... so it is left out
    assert short.candidate_text(items, ratings, item, 2, own_row=row) == plain


def test_full_rerank_text_and_older_adapters(fitted, llm_data):
    from convrec.llm.prompts import PromptConfig, saved_prompt_config

    _, split = fitted
    full = PromptBuilder(PromptConfig(rerank_text="full")).fit(
        llm_data, split.train, item_neighbours(llm_data, split.train)
    )
    items, ratings = full.history(int(llm_data.user[split.train[0]]))
    item = int(full.cf_top([items])[0][0])
    text = full.candidate_text(items, ratings, item, 1)
    assert (
        text.startswith(full.item_text(item) + ". cf rank 1. ") and " ratings. close to: " in text
    )
    near = full._history_neighbours(items, item)[0][: full.config.n_evidence]
    assert all(f"{full.title(int(i))} (" in text for i in near)  # titles, not only positions
    assert "outside the cf list" in full.candidate_text(items, ratings, item, 0)
    # a config saved before rerank_text existed was trained on the full text
    saved = {k: v for k, v in dataclasses.asdict(PromptConfig()).items() if k != "rerank_text"}
    assert saved_prompt_config(saved).rerank_text == "full"
    assert saved_prompt_config({**saved, "rerank_text": "short"}) == PromptConfig()
    with pytest.raises(ValueError, match="rerank_text must be one of"):
        PromptConfig(rerank_text="long")
    with pytest.raises(ValueError, match="rerank_evidence must be >= 0"):
        PromptConfig(rerank_evidence=-1)
