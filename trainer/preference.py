"""Preference objectives on MLX: DPO on pairs, KTO on thumbs, and either mixed with SFT.

A window holds three kinds of training data (:mod:`kasper.trainer.dataset`):
``train.jsonl`` (SFT, approved texts), ``preference.jsonl`` (pairs: a liked and a
disliked insight for equivalent prompts) and ``thumbs.jsonl`` (each insight with
a net thumbs up or down). The objective (``KASPER_TRAINER_OBJECTIVE``) names
which are trained on: ``sft``, ``dpo``, ``kto`` or a ``+`` combination; ``auto``
takes KTO when the window has at least two thumbs (every thumb, paired or not, is a
KTO example) and SFT otherwise. DPO sees only pairs, which sparse feedback seldom
forms, so it runs only when named. Why not SFT beside KTO by default: the approved
texts SFT imitates are what the rubric likes (long), and in the measured loop the
mix undid most of what the thumbs taught (docs/trainer.md, "Objectives").

The losses plug into ``mlx_lm.tuner.trainer.train`` as its ``loss`` and
``iterate_batches``, so the compiled step, reports, checkpoints and NaN checks are
the SFT path's (:mod:`kasper.trainer.lora`). One step takes one batch of every
objective and sums their losses.

- **Reference**: the model training starts from (the serving adapter when its
  LoRA shape matches, else the base model), so at step 0 the policy *is* the
  reference. Its sequence log-probs are computed once, before the first step,
  on the very batch arrays training uses (no second copy of the weights).
- **DPO** (Rafailov et al. 2023): ``-log sigmoid(beta * ((pc - pr) - (rc - rr)))``
  with sequence log-probs summed over the answer tokens (the prompt is masked,
  as in SFT). One forward pass over chosen and rejected rows together.
- **KTO** (Ethayarajh et al. 2024, as in TRL): desirable ``1 - sigmoid(beta *
  (r - z0))``, undesirable ``1 - sigmoid(beta * (z0 - r))`` with ``r`` the log
  ratio to the reference, weighted per side. ``z0 = max(0, mean over the batch
  of log pi/pi_ref)`` on mismatched pairs (each prompt with the answer of the
  previous example in its batch, TRL's rotation), detached: a forward pass only.
  Thumbs are imbalanced, so by default the rarer side is weighted up until
  ``w_d * n_d == w_u * n_u`` (the lower end of the paper's range [1, 4/3]).
- **Anchor** (:mod:`kasper.trainer.anchor`): beside DPO or KTO each step also takes a
  batch of anchor texts, and any whose mean token loss rose above the reference's is
  pulled back (:func:`anchor_loss`), so the thumbs do not drag the rest of the model along.

The fixed batches, their seeded order and the reference values they carry are in
:mod:`kasper.trainer.groups`; the plan here chooses the objective and builds them.

Error policy: :class:`EmptyWindowError` when the objective has nothing to train
on (naming each part and what it missed); a named objective whose data the
window lacks is left out with a log line, and :attr:`Plan.objective` says what
was used. A malformed row raises :class:`CorruptDatasetError` naming file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from kasper.streams.logs import get_logger

import mlx.nn as nn  # noqa: E402  (after runtime.blas on purpose)
from mlx_lm.tuner.trainer import default_loss  # noqa: E402

from .errors import CorruptDatasetError, EmptyWindowError  # noqa: E402
from .groups import (Mixture, Pending, anchor_groups, dpo_groups, epoch_steps, kto_groups,  # noqa: E402
                     resolve_all, sft_groups, taken)
from .packed import Seq, mean_nll, packed_logps  # noqa: E402
from .reference_cache import ReferenceCache, answer_logps  # noqa: E402

log = get_logger(__name__)
OBJECTIVES = ("sft", "dpo", "kto")
PAIRS_FILE, THUMBS_FILE = "preference.jsonl", "thumbs.jsonl"


def parse_objective(text: str) -> tuple[str, ...] | None:
    """``"sft+kto"`` -> ``("sft", "kto")`` in canonical order; ``"auto"`` -> None."""
    text = text.strip().lower()
    if text == "auto":
        return None
    parts = [p.strip() for p in text.split("+")]
    unknown = [p for p in parts if p not in OBJECTIVES]
    if unknown or not parts:
        raise ValueError(f"unknown training objective {text!r}: use 'auto' or a '+' "
                         f"combination of {', '.join(OBJECTIVES)}")
    return tuple(o for o in OBJECTIVES if o in parts)


def objective_name(parts: Sequence[str]) -> str:
    return "+".join(parts)


def has_training_data(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds any file an objective trains on."""
    return any((Path(data_dir) / n).exists() for n in ("train.jsonl", PAIRS_FILE, THUMBS_FILE))


# --- data ------------------------------------------------------------------------------


def read_rows(data_dir: Path, name: str, splits: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``name`` whose ``split`` is in ``splits`` (a row without one is ``train``)."""
    path = Path(data_dir) / name
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise CorruptDatasetError(f"{path}:{number}: not JSON ({exc})") from None
        if row.get("split", "train") in splits:
            rows.append(row)
    return rows


def with_carried(window_rows: list[dict[str, Any]], carried: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Carried thumbs rows (:mod:`kasper.trainer.carry`), then the window's: one row per
    insight id, the window's when both have it."""
    own = {r.get("insight_id") for r in window_rows}
    return [r for r in carried if r.get("insight_id") not in own] + list(window_rows)


def encode(tokenizer: Any, prompt: list[dict], answer: list[dict]) -> Seq:
    """Tokens of prompt + answer and the answer's start, as mlx-lm's ChatDataset masks it."""
    tokens = tokenizer.apply_chat_template([*prompt, *answer], return_dict=False)
    offset = len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=False))
    return list(tokens), offset


def pair_examples(rows: list[dict], tokenizer: Any, max_len: int) -> tuple[list[tuple[Seq, Seq]], int]:
    """(chosen, rejected) sequences; pairs whose prompt fills ``max_len`` are dropped (counted)."""
    out = []
    for row in rows:
        try:
            pair = encode(tokenizer, row["prompt"], row["chosen"]), encode(tokenizer, row["prompt"], row["rejected"])
        except (KeyError, TypeError) as exc:
            raise CorruptDatasetError(f"{PAIRS_FILE}: a pair lacks {exc}") from None
        if all(_fits(s, max_len) for s in pair):
            out.append(pair)
    return out, len(rows) - len(out)


def thumb_examples(rows: list[dict], tokenizer: Any, max_len: int) -> tuple[list[tuple[Seq, bool]], int]:
    """(sequence, liked) per thumbed insight; too-long prompts dropped (counted)."""
    out = []
    for row in rows:
        try:
            seq, liked = encode(tokenizer, row["prompt"], row["completion"]), bool(row["label"])
        except (KeyError, TypeError) as exc:
            raise CorruptDatasetError(f"{THUMBS_FILE}: a row lacks {exc}") from None
        if _fits(seq, max_len):
            out.append((seq, liked))
    return out, len(rows) - len(out)


def _fits(seq: Seq, max_len: int) -> bool:
    # The answer's first token must come before max_len, or its masked sum is empty.
    return seq[1] < max_len - 1


def kto_weights(liked: Sequence[bool], desirable: float | None = None,
                undesirable: float | None = None) -> tuple[float, float]:
    """(w_desirable, w_undesirable): given ones kept, else the rarer side weighted up."""
    n_d, n_u = sum(liked), len(liked) - sum(liked)
    if desirable is None and undesirable is None:
        if n_d and n_u:
            return (n_u / n_d, 1.0) if n_d < n_u else (1.0, n_d / n_u)
        return 1.0, 1.0
    return (1.0 if desirable is None else desirable), (1.0 if undesirable is None else undesirable)


# --- arrays and log-probs ------------------------------------------------------------


def dpo_loss(model: Any, *arrays: Any, beta: float) -> tuple[Any, Any]:
    """``arrays``: a :func:`~kasper.trainer.packed.pack` of rows ``[:B]`` chosen and ``[B:]``
    rejected, then ``ref``, their reference log-probs."""
    *rows, ref = arrays
    logps, ntoks = packed_logps(model, *rows)
    b = ref.shape[0] // 2
    margin = (logps[:b] - logps[b:]) - (ref[:b] - ref[b:])
    return mx.mean(-nn.log_sigmoid(beta * margin)), ntoks.sum()


def kto_loss(model: Any, *arrays: Any, beta: float) -> tuple[Any, Any]:
    """KTO on one batch. ``arrays``: a pack of rows ``[:B]`` (the examples) and ``[B:]``
    (their KL rows: mismatched answers, which give the detached z0), the rows' reference
    log-probs, the liked mask and each example's weight."""
    *rows, ref, liked, weight = arrays
    logps, ntoks = packed_logps(model, *rows)
    b = liked.shape[0]
    z0 = mx.maximum(mx.stop_gradient(logps[b:] - ref[b:]).mean(), 0.0)
    ratio = logps[:b] - ref[:b]
    losses = mx.where(liked, 1 - mx.sigmoid(beta * (ratio - z0)), 1 - mx.sigmoid(beta * (z0 - ratio)))
    return mx.mean(weight * losses), ntoks[:b].sum()


def sft_loss(model: Any, tokens: Any, lengths: Any, *, beta: float) -> tuple[Any, Any]:
    return default_loss(model, tokens, lengths)


def anchor_loss(model: Any, *arrays: Any, beta: float) -> tuple[Any, Any]:
    """The anchor on one batch: ``weight * mean(max(0, nll - nll_ref))``, each row's mean
    token loss against the reference's. ``arrays``: a pack of anchor rows, their reference
    mean token losses and the weight. Zero (and no gradient) while no row is predicted
    worse than the reference did; only a row that got worse pulls back."""
    *rows, ref, weight = arrays
    return weight * mx.mean(mx.maximum(mean_nll(model, *rows) - ref, 0.0)), mx.array(0)


# Arrays per part in a step's tuple: a pack is 7 (packed.with_states).
_LOSSES: Mapping[str, tuple[int, Callable]] = {"sft": (2, sft_loss), "dpo": (8, dpo_loss),
                                               "kto": (10, kto_loss), "anchor": (9, anchor_loss)}


def mixed_loss(objective: Sequence[str], beta: float) -> Callable:
    """``loss(model, *arrays)`` for ``mlx_lm`` ``train``: the parts' losses summed, tokens too."""
    def loss(model: Any, *arrays: Any) -> tuple[Any, Any]:
        total, tokens, i = mx.array(0.0), mx.array(0), 0
        for name in objective:
            if name == "anchor" and i == len(arrays):
                break  # validation batches hold the objective only; the anchor rides in steps
            arity, fn = _LOSSES[name]
            value, n = fn(model, *arrays[i:i + arity], beta=beta)
            total, tokens, i = total + value, tokens + n, i + arity
        return total, tokens
    return loss


# --- the plan: which objective, what data ----------------------------------------------


@dataclass(frozen=True)
class Plan:
    objective: tuple[str, ...]
    train: Mixture
    valid: Mixture
    heldout_pairs: list[tuple] = field(default_factory=list)  # dpo-style groups of held-out pairs
    dropped: int = 0
    anchor_texts: int = 0  # texts the anchor holds the reference's loss on (0: no anchor)


def plan(model: Any, tokenizer: Any, data_dir: Path, setting: str, *, batch_size: int, max_len: int,
         sft: tuple[list[Seq], list[Seq]], kto_weights_set: tuple[float | None, float | None] = (None, None),
         carried: Sequence[dict[str, Any]] = (), anchor: Sequence[Seq] = (), anchor_weight: float = 0.0,
         should_stop: Callable[[], bool] | None = None, refs: ReferenceCache | None = None,
         steps: Callable[[int], int] | None = None, seed: int = 0) -> Plan:
    """Choose the objective for what the window holds and build every batch (references included).

    ``sft`` is the (train, valid) SFT examples (tokenized by the caller, mlx-lm's way);
    ``carried`` are thumbs rows of earlier windows, trained on beside the window's own.
    ``anchor`` texts, with ``anchor_weight`` > 0, hold a preference objective to the
    reference's loss on them (:func:`anchor_loss`); SFT needs no anchor.
    Call before the first step: the references are the model as it is now. The reference
    passes can take a while: ``should_stop()`` true between two of their batches raises
    ``TrainingInterrupted`` (nothing is trained yet, so nothing is lost). ``refs``, the
    reference values of earlier plans for this very model, spares the rows it holds
    (:mod:`kasper.trainer.reference_cache`); it is saved at the end.

    ``steps``, given an epoch's steps (the largest objective's batch count), says how many
    steps training will take with ``seed``: only the training batches those steps take are
    referenced (:func:`~kasper.trainer.groups.taken`); None references every batch.
    """
    wanted = parse_objective(setting)
    pairs = {s: pair_examples(read_rows(data_dir, PAIRS_FILE, splits), tokenizer, max_len)
             for s, splits in (("train", ("train",)), ("valid", ("valid",)), ("heldout", ("valid", "test")))}
    thumbs = {"train": thumb_examples(with_carried(read_rows(data_dir, THUMBS_FILE, ("train",)), carried),
                                      tokenizer, max_len),
              "valid": thumb_examples(read_rows(data_dir, THUMBS_FILE, ("valid",)), tokenizer, max_len)}
    available = {"sft": len(sft[0]), "dpo": len(pairs["train"][0]), "kto": len(thumbs["train"][0])}
    needs = {"sft": 1, "dpo": 1, "kto": 2}  # KTO's z0 needs another answer in the batch
    # auto: a window with thumbs trains for its users (KTO), one without on its approved
    # texts (SFT); SFT beside KTO pulls toward the rubric's long texts (docs/trainer.md).
    candidates = wanted or (("kto",) if available["kto"] >= needs["kto"] else ("sft",))
    objective = tuple(o for o in candidates if available[o] >= needs[o])
    if not objective:
        raise EmptyWindowError(f"{data_dir}: nothing to train on for objective "
                               f"{setting!r}: " + ", ".join(f"{o} has {available[o]} training examples "
                                                           f"(needs {needs[o]})" for o in candidates))
    if wanted and objective != wanted:
        log.warning("objective parts without data left out", wanted=objective_name(wanted),
                    used=objective_name(objective), available=available)
    # Each objective's batch: batch_size, or all it has when that is fewer (a window
    # with 3 thumbs still trains KTO on batches of 3 next to SFT batches of 4).
    batch = {o: min(batch_size, available[o]) for o in objective}
    weights = kto_weights([like for _, like in thumbs["train"][0]], *kto_weights_set)
    train, valid = {}, {}
    for name in objective:
        if name == "sft":
            train[name], valid[name] = (sft_groups(s, batch[name], max_len) for s in sft)
        elif name == "dpo":
            train[name], valid[name] = (dpo_groups(pairs[s][0], batch[name]) for s in ("train", "valid"))
        else:
            train[name], valid[name] = (kto_groups(thumbs[s][0], batch[name], weights) for s in ("train", "valid"))
    parts, anchored = objective, []
    if anchor_weight > 0 and {"dpo", "kto"} & set(objective):
        anchored = [a for a in anchor if _fits(a, max_len)]
        if anchored:
            train["anchor"] = anchor_groups(anchored, min(batch_size, len(anchored)), anchor_weight)
            parts = (*objective, "anchor")
    heldout = dpo_groups(pairs["heldout"][0], 1)
    total = steps(epoch_steps(train, objective)) if steps is not None else None
    for groups in train.values():
        used = taken(len(groups), total, seed) if total is not None else None
        resolve_all(model, groups, max_len, used, should_stop, refs)
    for groups in [*valid.values(), heldout]:
        resolve_all(model, groups, max_len, None, should_stop, refs)
    dropped = sum(d for part, (_, d) in [*pairs.items(), *thumbs.items()] if part == "train")
    counts = {f"{o}_examples": available[o] for o in objective}
    cached = {} if refs is None else {"reference_rows_cached": refs.hits, "reference_rows_computed": refs.misses}
    pending = sum(isinstance(g, Pending) for groups in train.values() for g in groups)
    log.info("preference plan", objective=objective_name(objective), batch_sizes=batch,
             kto_weights=weights if "kto" in objective else None, anchor_texts=len(anchored),
             batches_not_taken=pending, **counts, **cached)
    if refs is not None:
        refs.save()
    size = max(batch.values())
    return Plan(objective, Mixture(parts, train, size, counts, model),
                Mixture(objective, valid, size, model=model), heldout, dropped, len(anchored))


def heldout_margins(model: Any, groups: list[tuple]) -> dict[str, float]:
    """On held-out pairs: the policy's and the reference's mean chosen-over-rejected
    log-prob margin, and how often the policy's implicit reward ranks the pair right."""
    if not groups:
        return {}
    model.eval()
    policy, reference, right = [], [], 0
    for *rows, ref in groups:
        logps = answer_logps(model, tuple(rows))
        b = ref.shape[0] // 2
        p = (logps[:b] - logps[b:]).tolist()
        r = (ref[:b] - ref[b:]).tolist()
        policy += p
        reference += r
        right += sum(x > y for x, y in zip(p, r))
    n = len(policy)
    out = {"heldout_pairs": float(n), "heldout_margin": sum(policy) / n,
           "heldout_margin_reference": sum(reference) / n, "heldout_reward_accuracy": right / n}
    return {k: v for k, v in out.items() if math.isfinite(v)}
