"""Synthetic digit-string tasks with checkable answers, difficulty knobs and shortcut checks.

What it is: the lab's task family (DESIGN.md §6). Every number is written least-significant digit
first (operands and answers), which makes addition learnable by a tiny GPT. Ops:

==========  ===============================  =======================================  ==========
op          prompt (format tag ``f``)        answer (canonical, LSB first)            formats
==========  ===============================  =======================================  ==========
add         ``A74+58f=``  (47 + 85)          ``231`` (132)                            d r s c
rev         ``R>74521f=``                    ``12547``                                d r
shift       ``S2>74521f=`` (rotate left 2)   ``52174``                                d r
rot         ``T3>74521f=`` (each digit +3)   ``07854``                                d r
chain       ``R,S2,T3>74521f=``              the steps applied left to right          d r s
open        ``O3:51f=``  (3 digits, sum 15)  any 3 digits summing to 15, e.g. ``960``  d r
==========  ===============================  =======================================  ==========

The requested format ``f`` is one of ``d`` direct, ``r`` reversed (answer written most-significant
first), ``s`` scratchpad, ``c`` carry trace, or ``?`` any. A completion starts with the tag of the
format it uses and ends with ``$`` (eos)::

    d231$            r132$            s75,48|231$      (scratch: each column's digit pair)
    c21,31|231$      (carry trace: each column's sum digit and carry-out)
    s47125,25471|07854$               (chain scratch: the intermediate strings)

Difficulty knobs: op, format, ``n_digits`` (1..8 and beyond), ``n_carries`` (add: exactly c of the
n columns carry), ``n_steps`` (chain length). :func:`make_pool` builds the demo's RL pool (too
easy / in band / too hard for the default base, :func:`default_base_mix`) and disjoint held-out
sets (in band, hard, prior skills = ops/formats the base saw that RL does not train).

What it is not: tokenization or model code (see ``tokenizer``/``model``), and the reward is only
what :func:`verify` checks (format tag + final answer); scratch work is *not* checked, on purpose,
so that skipping it is a real shortcut that :func:`shortcut_flags` can detect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

EOS_CHAR = "$"
DIGITS = "0123456789"


class TaskError(ValueError):
    """Bad task configuration or item input; the message says what to change."""


class Op(str, Enum):
    """Task operations (strings accepted wherever an ``Op`` is)."""

    ADD = "add"
    REV = "rev"
    SHIFT = "shift"
    ROT = "rot"
    CHAIN = "chain"
    OPEN = "open"


class Fmt(str, Enum):
    """Output formats; ``ANY`` is only a request (the completion picks an allowed one)."""

    DIRECT = "direct"
    REVERSED = "reversed"
    SCRATCH = "scratch"
    CARRY = "carry"
    ANY = "any"


FMT_CHAR: dict[Fmt, str] = {
    Fmt.DIRECT: "d",
    Fmt.REVERSED: "r",
    Fmt.SCRATCH: "s",
    Fmt.CARRY: "c",
    Fmt.ANY: "?",
}
CHAR_FMT: dict[str, Fmt] = {c: f for f, c in FMT_CHAR.items() if f is not Fmt.ANY}
NO_FORMAT = "none"  # format_of() of a completion without a valid tag
STEP_CHAR: dict[Op, str] = {Op.REV: "R", Op.SHIFT: "S", Op.ROT: "T"}
ALLOWED: dict[Op, tuple[Fmt, ...]] = {
    Op.ADD: (Fmt.DIRECT, Fmt.REVERSED, Fmt.SCRATCH, Fmt.CARRY),
    Op.REV: (Fmt.DIRECT, Fmt.REVERSED),
    Op.SHIFT: (Fmt.DIRECT, Fmt.REVERSED),
    Op.ROT: (Fmt.DIRECT, Fmt.REVERSED),
    Op.CHAIN: (Fmt.DIRECT, Fmt.REVERSED, Fmt.SCRATCH),
    Op.OPEN: (Fmt.DIRECT, Fmt.REVERSED),
}
OPS: tuple[Op, ...] = tuple(Op)
FMTS: tuple[Fmt, ...] = tuple(Fmt)
NUM_CATEGORIES = len(OPS) * len(FMTS)
_RL_FORMATS: tuple[Fmt, ...] = (Fmt.DIRECT, Fmt.ANY)
BANDS: tuple[str, ...] = ("easy", "band", "hard")


def parse_op(value: Op | str) -> Op:
    """``Op`` from an enum or its string value; clear error otherwise."""
    try:
        return Op(value)
    except ValueError:
        raise TaskError(f"unknown op {value!r}; choose from {[o.value for o in Op]}") from None


def parse_fmt(value: Fmt | str) -> Fmt:
    """``Fmt`` from an enum or its string value; clear error otherwise."""
    try:
        return Fmt(value)
    except ValueError:
        raise TaskError(f"unknown format {value!r}; choose from {[f.value for f in Fmt]}") from None


def category_of(op: Op | str, fmt: Fmt | str) -> int:
    """Categorical id of an (op, requested format) pair, in ``[0, NUM_CATEGORIES)``."""
    return OPS.index(parse_op(op)) * len(FMTS) + FMTS.index(parse_fmt(fmt))


# ----------------------------------------------------------------------------------------------
# Items


@dataclass(frozen=True)
class Item:
    """One prompt with its canonical answer and difficulty metadata."""

    prompt: str
    """The prompt string, e.g. ``"A74+58d="``."""
    answer: str
    """One canonical answer, digits least-significant first (open op: one of many)."""
    op: str
    """``Op`` value."""
    fmt: str
    """Requested ``Fmt`` value (``"any"`` lets the completion choose)."""
    n_digits: int
    """Digits per operand (open: digits of the answer)."""
    n_carries: int
    """Add: columns that produce a carry; 0 for the other ops."""
    item_id: int
    """Index of the item in its list / pool (what ``zpd.Curriculum`` ids refer to)."""
    n_steps: int = 1
    """Chain: number of steps; 1 for the other ops."""
    operands: tuple[str, ...] = ()
    """Digit strings in the prompt (add: a, b; string ops: the input; open: n, sum)."""
    steps: tuple[str, ...] = ()
    """String-op step codes applied in order, e.g. ``("R", "S2", "T3")``."""

    def meta(self) -> dict[str, float | int]:
        """Numeric features for ``zpd.Curriculum`` (``category`` is the categorical one)."""
        return {
            "category": category_of(self.op, self.fmt),
            "n_digits": float(self.n_digits),
            "n_carries": float(self.n_carries),
            "n_steps": float(self.n_steps),
            "level": declared_level(self),
            "difficulty": declared_level(self),  # what static (AdaRFT) reads as offline difficulty
            "prompt_len": float(len(self.prompt)),
        }

    def with_id(self, item_id: int) -> Item:
        """The same item under another id."""
        return Item(**{**self.__dict__, "item_id": int(item_id)})


def declared_level(item: Item) -> float:
    """A hand-made, uncalibrated difficulty level (digits + half the carries + extra steps)."""
    return float(item.n_digits + 0.5 * item.n_carries + (item.n_steps - 1))


def items_to_features(items: Sequence[Item]) -> dict[str, np.ndarray]:
    """Stack :meth:`Item.meta` into ``{name: array (N,)}``; ``category`` int64, others float64."""
    if len(items) == 0:
        raise TaskError("items_to_features needs at least one item")
    metas = [it.meta() for it in items]
    out: dict[str, np.ndarray] = {}
    for key in metas[0]:
        dtype = np.int64 if key == "category" else np.float64
        out[key] = np.asarray([m[key] for m in metas], dtype=dtype)  # (N,)
    return out


# ----------------------------------------------------------------------------------------------
# The ops


def apply_step(x: str, step: str) -> str:
    """Apply one string-op step code (``R``, ``S<k>``, ``T<k>``) to digit string ``x``."""
    kind, arg = step[0], step[1:]
    if kind == "R" and not arg:
        return x[::-1]
    if kind in "ST" and arg.isdigit() and len(arg) == 1:
        k = int(arg)
        if kind == "S":
            k %= len(x)
            return x[k:] + x[:k]
        return "".join(str((int(c) + k) % 10) for c in x)
    raise TaskError(f"bad step code {step!r}; expected 'R', 'S<digit>' or 'T<digit>'")


def chain_trace(x: str, steps: Sequence[str]) -> list[str]:
    """Intermediate strings after each step (last one is the answer)."""
    out = []
    for s in steps:
        x = apply_step(x, s)
        out.append(x)
    return out


def add_lsb(a: str, b: str) -> tuple[str, list[tuple[int, int]]]:
    """Sum of two LSB-first digit strings and the per-column (sum digit, carry-out) pairs."""
    cols: list[tuple[int, int]] = []
    carry = 0
    for i in range(max(len(a), len(b))):
        s = int(a[i] if i < len(a) else 0) + int(b[i] if i < len(b) else 0) + carry
        carry = s // 10
        cols.append((s % 10, carry))
    digits = "".join(str(d) for d, _ in cols) + ("1" if carry else "")
    return digits, cols


def carryless_sum(a: str, b: str) -> str:
    """Digit-wise (a_i + b_i) mod 10: the answer of a model that ignores carries."""
    return "".join(str((int(x) + int(y)) % 10) for x, y in zip(a, b))


def expected_work(item: Item, fmt: Fmt) -> list[str]:
    """The scratch/carry-trace entries a faithful completion of ``item`` writes in ``fmt``."""
    op = parse_op(item.op)
    if op is Op.ADD and fmt is Fmt.SCRATCH:
        a, b = item.operands
        return [x + y for x, y in zip(a, b)]
    if op is Op.ADD and fmt is Fmt.CARRY:
        _, cols = add_lsb(*item.operands)
        return [f"{d}{c}" for d, c in cols]
    if op is Op.CHAIN and fmt is Fmt.SCRATCH:
        return chain_trace(item.operands[0], item.steps)[:-1]
    return []


# ----------------------------------------------------------------------------------------------
# Rendering completions


def render_completion(item: Item, fmt: Fmt | str | None = None, answer: str | None = None) -> str:
    """The faithful completion of ``item`` in format ``fmt`` (default: the requested one;
    ``any`` renders direct), ending in eos. ``answer`` overrides the final answer (label noise)."""
    f = parse_fmt(fmt if fmt is not None else item.fmt)
    if f is Fmt.ANY:
        f = Fmt.DIRECT
    if f not in ALLOWED[parse_op(item.op)]:
        raise TaskError(f"format {f.value!r} is not allowed for op {item.op!r}")
    ans = item.answer if answer is None else answer
    tag = FMT_CHAR[f]
    if f is Fmt.DIRECT:
        return tag + ans + EOS_CHAR
    if f is Fmt.REVERSED:
        return tag + ans[::-1] + EOS_CHAR
    return tag + ",".join(expected_work(item, f)) + "|" + ans + EOS_CHAR


def corrupt_answer(answer: str, rng: np.random.Generator) -> str:
    """``answer`` with one digit replaced by a different random digit (label noise)."""
    i = int(rng.integers(len(answer)))
    d = (int(answer[i]) + int(rng.integers(1, 10))) % 10
    return answer[:i] + str(d) + answer[i + 1 :]


def corrupt_digits(answer: str, noise: Sequence[float], rng: np.random.Generator) -> str:
    """``answer`` with digit i replaced by a different random digit with probability
    ``noise[min(i, len(noise) - 1)]``, independently per digit (one uniform draw per digit)."""
    p = np.asarray([noise[min(i, len(noise) - 1)] for i in range(len(answer))])
    u = rng.random(len(answer))
    shift = rng.integers(1, 10, size=len(answer))
    return "".join(str((int(c) + int(k)) % 10) if hit else c
                   for c, hit, k in zip(answer, u < p, shift))


# ----------------------------------------------------------------------------------------------
# Configs and generators


def _as_range(value: Sequence[int], name: str, lo: int) -> tuple[int, int]:
    r = tuple(int(v) for v in value)
    if len(r) != 2 or r[0] < lo or r[1] < r[0]:
        raise TaskError(f"{name} must be (min, max) with {lo} <= min <= max, got {value!r}")
    return (r[0], r[1])


@dataclass(frozen=True)
class TaskConfig:
    """A distribution over items (one block of a pool or of a base distribution)."""

    ops: tuple[Op, ...] = (Op.ADD,)
    """Ops to draw from (uniformly); strings accepted."""
    formats: tuple[Fmt, ...] = (Fmt.DIRECT,)
    """Requested formats to draw from, uniformly among those the op allows."""
    digits: tuple[int, int] = (1, 3)
    """Inclusive range of ``n_digits`` (drawn uniformly), 1..12."""
    carries: tuple[int, int] | None = None
    """Add: inclusive range of carry counts (clipped to n); None = natural random digits."""
    steps: tuple[int, int] = (2, 3)
    """Chain: inclusive range of the number of steps (>= 2)."""
    n_items: int = 256
    """How many items :func:`make_items` returns."""
    label_noise: float = 0.0
    """Pretraining only: probability that a training completion's answer has one wrong digit."""
    digit_noise: tuple[float, ...] = ()
    """Pretraining only: probability that answer digit i (least significant first) is replaced
    by another digit, independently per digit; digits beyond the tuple take its last value.
    Noise that grows with the position makes a difficulty ladder: an n-digit sum is right with
    probability prod_{i<=n} (1 - noise_i), and every rung shares the lower rungs' digits."""
    echo_noise: float = 0.0
    """Pretraining only: probability that a training completion answers with the first operand
    copied instead of the answer (a shortcut the base then knows at a low rate, the way web text
    holds wrong worked answers: the shortcut lab's base, docs/lab-proof.md)."""
    any_formats: tuple[Fmt, ...] | None = None
    """Pretraining only: formats a completion of an ``any`` request is rendered in
    (None = every format the op allows)."""
    weight: float = 1.0
    """Mixture weight when this config is one block of a base distribution."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "ops", tuple(parse_op(o) for o in _tuple(self.ops, "ops")))
        set_(self, "formats", tuple(parse_fmt(f) for f in _tuple(self.formats, "formats")))
        set_(self, "digits", _as_range(self.digits, "digits", 1))
        if self.digits[1] > 12:
            raise TaskError(f"digits max is 12 (context length), got {self.digits}")
        if self.carries is not None:
            set_(self, "carries", _as_range(self.carries, "carries", 0))
        set_(self, "steps", _as_range(self.steps, "steps", 2))
        if self.any_formats is not None:
            set_(self, "any_formats", tuple(parse_fmt(f) for f in self.any_formats))
            if Fmt.ANY in self.any_formats or not self.any_formats:
                raise TaskError("any_formats must list concrete formats (not 'any')")
        noise = tuple(self.digit_noise) if not isinstance(self.digit_noise, (int, float)) else (
            self.digit_noise,)
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= x <= 0.9
               for x in noise):
            raise TaskError(f"digit_noise must be numbers in [0, 0.9], got {self.digit_noise!r}")
        set_(self, "digit_noise", tuple(float(x) for x in noise))
        if not self.ops or not self.formats:
            raise TaskError("ops and formats must be non-empty")
        if not self.valid_pairs():
            raise TaskError(f"no op in {self.ops} allows any format in {self.formats}")
        n = self.n_items
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise TaskError(f"n_items must be an integer >= 1, got {n!r}")
        set_(self, "n_items", int(n))
        for name, ok, what in (
            ("label_noise", lambda x: 0.0 <= x <= 1.0, "in [0, 1]"),
            ("echo_noise", lambda x: 0.0 <= x <= 0.5, "in [0, 0.5]"),
            ("weight", lambda x: x > 0.0, "> 0"),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not ok(float(v)):
                raise TaskError(f"{name} must be a number {what}, got {v!r}")
            set_(self, name, float(v))

    def valid_pairs(self) -> list[tuple[Op, Fmt]]:
        """The (op, requested format) pairs this config can produce."""
        return [
            (o, f) for o in self.ops for f in self.formats if f is Fmt.ANY or f in ALLOWED[o]
        ]


def _tuple(value: object, name: str) -> tuple[object, ...]:
    if isinstance(value, (str, Op, Fmt)):
        return (value,)
    if not isinstance(value, Iterable):
        raise TaskError(f"{name} must be a sequence, got {value!r}")
    return tuple(value)


def _draw_add(rng: np.random.Generator, n: int, carries: tuple[int, int] | None) -> tuple[str, str]:
    """Two n-digit LSB-first operands; with ``carries``, exactly c columns carry (c drawn)."""
    if carries is None:
        a = [int(d) for d in rng.integers(0, 10, n)]
        b = [int(d) for d in rng.integers(0, 10, n)]
        a[-1], b[-1] = int(rng.integers(1, 10)), int(rng.integers(1, 10))  # exactly n digits
        return "".join(map(str, a)), "".join(map(str, b))
    c = int(rng.integers(min(carries[0], n), min(carries[1], n) + 1))
    carry_cols = set(rng.choice(n, size=c, replace=False).tolist())
    a_s, b_s, cin = "", "", 0
    for i in range(n):
        lo = 1 if i == n - 1 else 0
        pairs = [
            (x, y)
            for x in range(lo, 10)
            for y in range(lo, 10)
            if ((x + y + cin) >= 10) == (i in carry_cols)
        ]
        x, y = pairs[int(rng.integers(len(pairs)))]
        a_s, b_s, cin = a_s + str(x), b_s + str(y), int(i in carry_cols)
    return a_s, b_s


def _draw_item(cfg: TaskConfig, rng: np.random.Generator, item_id: int) -> Item:
    pairs = cfg.valid_pairs()
    op, fmt = pairs[int(rng.integers(len(pairs)))]
    n = int(rng.integers(cfg.digits[0], cfg.digits[1] + 1))
    tag = FMT_CHAR[fmt] + "="
    if op is Op.ADD:
        a, b = _draw_add(rng, n, cfg.carries)
        ans, cols = add_lsb(a, b)
        nc = sum(c for _, c in cols)
        return Item(f"A{a}+{b}{tag}", ans, op.value, fmt.value, n, nc, item_id, 1, (a, b))
    if op is Op.OPEN:
        s = int(rng.integers(0, 9 * n + 1))
        ans = "".join(str(min(9, max(0, s - 9 * i))) for i in range(n))  # greedy 9s, LSB first
        prompt = f"O{str(n)[::-1]}:{str(s)[::-1]}{tag}"  # numbers LSB first, as everywhere
        return Item(prompt, ans, op.value, fmt.value, n, 0, item_id, 1, (str(n), str(s)))
    x = "".join(str(int(d)) for d in rng.integers(0, 10, n))
    if op is Op.CHAIN:
        k = int(rng.integers(cfg.steps[0], cfg.steps[1] + 1))
        kinds = [STEP_CHAR[Op(o)] for o in rng.choice(["rev", "shift", "rot"], size=k)]
    else:
        k, kinds = 1, [STEP_CHAR[op]]
    steps = tuple(_step_code(kd, n, rng) for kd in kinds)
    ans = chain_trace(x, steps)[-1]
    prompt = f"{','.join(steps)}>{x}{tag}"
    return Item(prompt, ans, op.value, fmt.value, n, 0, item_id, k, (x,), steps)


def reversal_item(x: str, fmt: Fmt | str = Fmt.DIRECT, item_id: int = 0) -> Item:
    """The ``rev`` item on digit string ``x`` (the same item :func:`make_items` draws)."""
    if not x or any(c not in DIGITS for c in x):
        raise TaskError(f"reversal_item needs a non-empty digit string, got {x!r}")
    f = parse_fmt(fmt)
    if f not in (*ALLOWED[Op.REV], Fmt.ANY):
        raise TaskError(f"format {f.value!r} is not allowed for op 'rev'")
    return Item(f"R>{x}{FMT_CHAR[f]}=", x[::-1], Op.REV.value, f.value, len(x), 0,
                int(item_id), 1, (x,), ("R",))


def random_digits(n: int, rng: np.random.Generator, *, palindrome: bool | None = None) -> str:
    """``n`` uniform digits; ``palindrome=True`` draws a uniform palindrome, ``False`` a uniform
    non-palindrome (by rejection), ``None`` either."""
    while True:
        if palindrome:
            half = "".join(str(int(d)) for d in rng.integers(0, 10, (n + 1) // 2))
            return half + half[: n // 2][::-1]
        x = "".join(str(int(d)) for d in rng.integers(0, 10, n))
        if palindrome is None or x != x[::-1]:
            return x


def _step_code(kind: str, n: int, rng: np.random.Generator) -> str:
    if kind == "R":
        return "R"
    if kind == "S":
        return f"S{int(rng.integers(1, min(max(n, 2), 10)))}"  # 1..min(n-1, 9): one digit,
        # never the identity for n >= 2
    return f"T{int(rng.integers(1, 10))}"


def make_items(
    config: TaskConfig,
    seed: int | np.random.Generator,
    *,
    unique: bool = False,
    exclude: Iterable[str] = (),
) -> list[Item]:
    """``config.n_items`` items drawn with their own ``np.random.Generator`` (from ``seed``);
    ``item_id`` = position. ``unique`` forbids repeated prompts; ``exclude`` lists prompts to
    avoid (held-out sets). Raises :class:`TaskError` if the space is too small for that."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    banned = set(exclude)
    items: list[Item] = []
    tries = 0
    while len(items) < config.n_items:
        tries += 1
        if tries > 50 * config.n_items + 1000:
            raise TaskError(
                f"could only draw {len(items)} of {config.n_items} distinct items from {config}; "
                "widen digits/ops/formats or ask for fewer items"
            )
        it = _draw_item(config, rng, len(items))
        if it.prompt in banned:
            continue
        if unique:
            banned.add(it.prompt)
        items.append(it)
    return items


def training_completion(item: Item, config: TaskConfig, rng: np.random.Generator) -> str:
    """A pretraining target for ``item`` under ``config``: an ``any`` request is rendered in a
    random allowed format (``config.any_formats``), and with prob ``config.label_noise`` the
    final answer has one wrong digit (scratch work stays faithful)."""
    fmt = parse_fmt(item.fmt)
    if fmt is Fmt.ANY:
        allowed = ALLOWED[parse_op(item.op)]
        choices = [f for f in (config.any_formats or allowed) if f in allowed] or [Fmt.DIRECT]
        fmt = choices[int(rng.integers(len(choices)))]
    answer = item.answer
    if config.label_noise > 0 and rng.random() < config.label_noise:
        answer = corrupt_answer(answer, rng)
    if config.digit_noise:
        answer = corrupt_digits(answer, config.digit_noise, rng)
    if config.echo_noise > 0 and item.operands and rng.random() < config.echo_noise:
        answer = item.operands[0]  # the echo shortcut: the first operand, copied as written
    return render_completion(item, fmt, answer)


# ----------------------------------------------------------------------------------------------
# Reading completions


def _body(completion: str) -> str:
    """The completion up to (not including) the first eos, pads stripped."""
    return completion.split(EOS_CHAR, 1)[0].replace("_", "")


def format_of(completion: str) -> str:
    """The ``Fmt`` value whose tag starts ``completion``, or ``"none"``."""
    body = _body(completion)
    f = CHAR_FMT.get(body[:1])
    return f.value if f is not None else NO_FORMAT


def _split_work(completion: str) -> tuple[str | None, list[str] | None, str | None]:
    """(format, work entries or None, final answer text as written or None)."""
    body = _body(completion)
    fmt = format_of(completion)
    if fmt == NO_FORMAT:
        return None, None, None
    rest = body[1:]
    if fmt in (Fmt.SCRATCH.value, Fmt.CARRY.value):
        if "|" not in rest:
            return fmt, None, None
        work, ans = rest.rsplit("|", 1)
        return fmt, (work.split(",") if work else []), ans
    return fmt, None, rest


def extract_answer(completion: str) -> str | None:
    """The final answer in canonical order (LSB first), or None if malformed."""
    fmt, _, ans = _split_work(completion)
    if ans is None or not ans or any(c not in DIGITS for c in ans):
        return None
    return ans[::-1] if fmt == Fmt.REVERSED.value else ans


def format_ok(item: Item, fmt: str) -> bool:
    """Whether a completion in format ``fmt`` honours the item's request."""
    if item.fmt == Fmt.ANY.value:
        return fmt in {f.value for f in ALLOWED[parse_op(item.op)]}
    return fmt == item.fmt


def is_correct_answer(item: Item, answer: str | None) -> bool:
    """Canonical-order ``answer`` is right (open op: n digits summing to the target)."""
    if answer is None:
        return False
    if item.op == Op.OPEN.value:
        n, s = int(item.operands[0]), int(item.operands[1])
        return len(answer) == n and sum(int(c) for c in answer) == s
    return answer == item.answer


def verify(item: Item, completion: str) -> float:
    """Reward in [0, 1]: 1.0 iff the format tag honours the request and the final answer is right
    (open op: any valid answer). Binary by design; scratch work is not checked."""
    if not format_ok(item, format_of(completion)):
        return 0.0
    return 1.0 if is_correct_answer(item, extract_answer(completion)) else 0.0


# ----------------------------------------------------------------------------------------------
# Shortcut checks


def _is_repeated_block(s: str) -> bool:
    """``s`` (len >= 3) is a block of length <= len/2 repeated, with an optional partial tail."""
    if len(s) < 3:
        return False
    for k in range(1, len(s) // 2 + 1):
        if all(s[i] == s[i % k] for i in range(len(s))):
            return True
    return False


def shortcut_flags(item: Item, completion: str) -> dict[str, bool]:
    """Shortcut signatures of a *wrong* completion (a right answer is never a shortcut):

    - ``echo_operand``: the answer (canonical or as written) equals an operand string;
    - ``repeated_block``: the answer is one short block repeated (``"7777"``, ``"1212"``);
    - ``skipped_scratchpad``: scratch/carry was requested (or chosen under ``any``) but the work
      is missing or shorter than required (flagged even when the answer is right: the reward
      does not check work);
    - ``ignored_carries``: add with carries whose answer is the carry-less digit-wise sum, or a
      carry trace whose carries are all zero.
    """
    fmt, work, raw = _split_work(completion)
    ans = extract_answer(completion)
    wrong = not is_correct_answer(item, ans)
    texts = {t for t in (ans, raw) if t}
    operands = set(item.operands) if item.op != Op.OPEN.value else set()
    flags = {
        "echo_operand": wrong and bool(texts & operands),
        "repeated_block": wrong and ans is not None and _is_repeated_block(ans),
        "skipped_scratchpad": False,
        "ignored_carries": False,
    }
    work_fmts = (Fmt.SCRATCH.value, Fmt.CARRY.value)
    if item.fmt in work_fmts:  # work requested: another format or short work skips it
        need = len(expected_work(item, Fmt(item.fmt)))
        flags["skipped_scratchpad"] = fmt not in work_fmts or len(work or []) < need
    elif item.fmt == Fmt.ANY.value and fmt in work_fmts and Fmt(fmt) in ALLOWED[parse_op(item.op)]:
        # work chosen under ``any``, then skipped (under d/r requests a work tag is a format error)
        flags["skipped_scratchpad"] = len(work or []) < len(expected_work(item, Fmt(fmt)))
    if item.op == Op.ADD.value and item.n_carries > 0:
        a, b = item.operands
        ignored = wrong and ans == carryless_sum(a, b)
        if fmt == Fmt.CARRY.value and work:
            ignored = ignored or all(len(w) == 2 and w[1] == "0" for w in work)
        flags["ignored_carries"] = bool(ignored)
    return flags


def echoes_input(item: Item, completion: str) -> bool:
    """The completion's final answer (canonical or as written) is an operand copied: the echo
    shortcut, right or wrong (on a palindrome reversal the echo *is* the answer)."""
    if item.op == Op.OPEN.value or not item.operands:
        return False
    _, _, raw = _split_work(completion)
    return bool({t for t in (extract_answer(completion), raw) if t} & set(item.operands))


SHORTCUT_NAMES: tuple[str, ...] = (
    "echo_operand",
    "repeated_block",
    "skipped_scratchpad",
    "ignored_carries",
)


# ----------------------------------------------------------------------------------------------
# The demo's pool


@dataclass(frozen=True)
class PoolConfig:
    """The demo's RL pool (blocks too easy / in band / too hard for the base) and eval sets."""

    easy: TaskConfig = field(
        default_factory=lambda: TaskConfig(ops=(Op.ADD,), formats=_RL_FORMATS, digits=(1, 2),
                                           n_items=200)
    )
    """Pool block the default base has mastered (clean labels in pretraining)."""
    band: TaskConfig = field(
        default_factory=lambda: TaskConfig(ops=(Op.ADD,), formats=_RL_FORMATS, digits=(3, 5),
                                           n_items=200)
    )
    """Pool block in the base's zone (noisy labels in pretraining: sampled accuracy ~0.5)."""
    hard: TaskConfig = field(
        default_factory=lambda: TaskConfig(ops=(Op.ADD,), formats=_RL_FORMATS, digits=(6, 8),
                                           n_items=200)
    )
    """Pool block beyond the base (longer than anything it saw)."""
    prior: tuple[TaskConfig, ...] = field(
        default_factory=lambda: (
            TaskConfig(ops=(Op.REV, Op.SHIFT, Op.ROT), formats=(Fmt.DIRECT, Fmt.REVERSED),
                       digits=(2, 6), n_items=64),
            TaskConfig(ops=(Op.ADD,), formats=(Fmt.SCRATCH, Fmt.CARRY), digits=(1, 2),
                       n_items=64),
        )
    )
    """Held-out prior skills: ops/formats the base saw (clean) that RL does not train; each
    block contributes its ``n_items``."""
    n_eval: int = 128
    """Items per held-out set drawn like the easy, in-band and too-hard blocks."""

    def __post_init__(self) -> None:
        for name in BANDS:
            if not isinstance(getattr(self, name), TaskConfig):
                raise TaskError(f"PoolConfig.{name} must be a TaskConfig")
        prior = tuple(self.prior) if not isinstance(self.prior, TaskConfig) else (self.prior,)
        if not prior or not all(isinstance(p, TaskConfig) for p in prior):
            raise TaskError("PoolConfig.prior must be a non-empty tuple of TaskConfig")
        object.__setattr__(self, "prior", prior)
        if int(self.n_eval) < 1:
            raise TaskError(f"n_eval must be >= 1, got {self.n_eval}")



@dataclass(frozen=True)
class Pool:
    """The RL training pool and its disjoint held-out evaluation sets."""

    train: tuple[Item, ...]
    """RL prompts; ``train[i].item_id == i`` (the curriculum's ids)."""
    band_of: np.ndarray
    """(N,) int64: designed block of each train item, index into ``BANDS``."""
    eval_band: tuple[Item, ...]
    """Held-out items drawn like the in-band block."""
    eval_hard: tuple[Item, ...]
    """Held-out items drawn like the too-hard block."""
    eval_prior: tuple[Item, ...]
    """Held-out prior-skill items (not trained by RL)."""
    eval_easy: tuple[Item, ...] = ()
    """Held-out items drawn like the too-easy block (drawn last: adding it left the other
    sets unchanged)."""

    def features(self) -> dict[str, np.ndarray]:
        """Item features of the train pool for ``zpd.Curriculum(features=...)``."""
        return items_to_features(self.train)


def make_pool(config: PoolConfig | None = None, seed: int = 0) -> Pool:
    """Build the demo's pool: the three blocks shuffled together (unique prompts, ids = index),
    plus held-out in-band / hard / prior / easy sets whose prompts never occur in the pool nor
    in one another."""
    config = config if config is not None else PoolConfig()
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    blocks: list[tuple[int, Item]] = []
    for b, name in enumerate(BANDS):
        for it in make_items(getattr(config, name), rng, unique=True, exclude=seen):
            seen.add(it.prompt)
            blocks.append((b, it))
    order = rng.permutation(len(blocks))
    train = tuple(blocks[j][1].with_id(i) for i, j in enumerate(order))
    band_of = np.asarray([blocks[j][0] for j in order], dtype=np.int64)  # (N,)

    def held_out(cfg: TaskConfig, n: int) -> tuple[Item, ...]:
        cfg = TaskConfig(**{**cfg.__dict__, "n_items": n})
        items = make_items(cfg, rng, unique=True, exclude=seen)
        seen.update(it.prompt for it in items)
        return tuple(items)

    return Pool(
        train=train,
        band_of=band_of,
        eval_band=held_out(config.band, config.n_eval),
        eval_hard=held_out(config.hard, config.n_eval),
        eval_prior=tuple(
            it.with_id(i)
            for i, it in enumerate(x for p in config.prior for x in held_out(p, p.n_items))
        ),
        eval_easy=held_out(config.easy, config.n_eval),
    )


def _ladder_prior() -> tuple[TaskConfig, ...]:
    return (
        TaskConfig(ops=(Op.SHIFT,), formats=(Fmt.DIRECT, Fmt.REVERSED), digits=(2, 4),
                   n_items=64, weight=1.0),
        TaskConfig(ops=(Op.REV,), formats=(Fmt.REVERSED,), digits=(2, 8), n_items=64,
                   weight=0.5),
    )


@dataclass(frozen=True)
class LadderConfig:
    """A difficulty ladder of one skill: rung n is ``op`` on n-digit operands.

    The base learns every rung from answers whose digit i (least significant first) was
    corrupted with probability ``digit_noise[i]``, so it samples an n-digit answer right with
    probability about prod_{i<=n} (1 - noise_i): a pass rate that falls rung by rung, with
    pass@k far above pass@1 in the middle (the errors are spread over digits). The rungs share
    their lower digits, so sharpening rung n also lifts rung n + 1: the band moves up as the
    model learns. Prior skills (clean in pretraining, never trained by RL) are held out."""

    op: Op = Op.REV
    """The skill: string reversal (a 0.6M GPT learns it to 10 digits in 1,500 steps, where
    8-digit addition was not learned at all in as many: measured, docs/lab-learning.md)."""
    formats: tuple[Fmt, ...] = (Fmt.DIRECT,)
    """Requested formats of ladder items (pretraining and RL alike)."""
    levels: tuple[int, int] = (2, 10)
    """First and last rung (operand digits), inclusive (rung 1 has only 10 distinct prompts)."""
    digit_noise: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    """Base pretraining: corruption probability of answer digit i (least significant first)."""
    items_per_level: int = 48
    """RL pool items per rung."""
    eval_per_level: int = 40
    """Held-out items per rung (never in the pool)."""
    prior: tuple[TaskConfig, ...] = field(default_factory=_ladder_prior)
    """Held-out prior skills, clean in pretraining and never trained by RL (shifts; reversal
    written in the 'reversed' format, the format RL does not train); each block gives its
    ``n_items`` eval items and keeps its ``weight`` in the base's mix."""
    ladder_weight: float = 2.0
    """Base pretraining: weight of the ladder in the mix."""
    echo_noise: float = 0.0
    """Base pretraining: probability that a ladder answer is the input copied (the echo
    shortcut, right only on palindromes); 0 in the demo, 0.2 in the shortcut lab."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "op", parse_op(self.op))
        set_(self, "formats", tuple(parse_fmt(f) for f in _tuple(self.formats, "formats")))
        set_(self, "levels", _as_range(self.levels, "levels", 1))
        if self.levels[1] > 10:
            raise TaskError(f"levels max is 10 (answers must fit the context), got {self.levels}")
        block = self.block()  # validates formats and noise
        set_(self, "digit_noise", block.digit_noise)
        prior = (self.prior,) if isinstance(self.prior, TaskConfig) else tuple(self.prior)
        if not all(isinstance(p, TaskConfig) for p in prior):
            raise TaskError("LadderConfig.prior must be a tuple of TaskConfig")
        set_(self, "prior", prior)
        for name in ("items_per_level", "eval_per_level"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TaskError(f"LadderConfig.{name} must be an integer >= 1, got {v!r}")
        w = self.ladder_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
            raise TaskError(f"LadderConfig.ladder_weight must be > 0, got {w!r}")

    @property
    def rungs(self) -> tuple[int, ...]:
        """Operand digits of every rung, in order."""
        return tuple(range(self.levels[0], self.levels[1] + 1))

    def block(self, digits: tuple[int, int] | None = None, n_items: int = 1) -> TaskConfig:
        """The ladder's items as one :class:`TaskConfig` (optionally one rung's digits)."""
        return TaskConfig(ops=(self.op,), formats=self.formats, digits=digits or self.levels,
                          digit_noise=self.digit_noise, n_items=n_items,
                          weight=self.ladder_weight, echo_noise=self.echo_noise)

    def base_mix(self) -> tuple[TaskConfig, ...]:
        """The base's pretraining distribution: the noisy ladder plus the clean prior skills."""
        return (self.block(),) + tuple(self.prior)


@dataclass(frozen=True)
class LadderPool:
    """A ladder's RL pool (every rung) and its held-out sets (one per rung, plus prior)."""

    train: tuple[Item, ...]
    """RL prompts; ``train[i].item_id == i``."""
    rung_of: np.ndarray
    """(N,) int64: the operand digits (rung) of each train item."""
    eval_rungs: dict[int, tuple[Item, ...]]
    """Held-out items per rung."""
    eval_prior: tuple[Item, ...]
    """Held-out prior-skill items (not trained by RL)."""

    def features(self) -> dict[str, np.ndarray]:
        """Item features of the train pool for ``zpd.Curriculum(features=...)``."""
        return items_to_features(self.train)


def make_ladder(config: LadderConfig | None = None, seed: int = 0) -> LadderPool:
    """The ladder's RL pool (``items_per_level`` per rung, shuffled; ids = index) and held-out
    sets per rung and for the prior skills, all prompts distinct from one another."""
    config = config if config is not None else LadderConfig()
    rng = np.random.default_rng(seed)
    seen: set[str] = set()

    def draw(cfg: TaskConfig, n: int) -> list[Item]:
        items = make_items(dataclasses.replace(cfg, n_items=n), rng, unique=True, exclude=seen)
        seen.update(it.prompt for it in items)
        return items

    train = [it for d in config.rungs for it in draw(config.block((d, d)), config.items_per_level)]
    order = rng.permutation(len(train))
    evals = {d: tuple(draw(config.block((d, d)), config.eval_per_level)) for d in config.rungs}
    prior = [it for p in config.prior for it in draw(p, p.n_items)]
    return LadderPool(
        train=tuple(train[j].with_id(i) for i, j in enumerate(order)),
        rung_of=np.asarray([train[j].n_digits for j in order], dtype=np.int64),
        eval_rungs=evals,
        eval_prior=tuple(it.with_id(i) for i, it in enumerate(prior)),
    )


def default_base_mix() -> tuple[TaskConfig, ...]:
    """The pretraining distribution the default :class:`PoolConfig` is designed around:
    1-2-digit add clean (too easy for RL), 3-5-digit add with half the answers corrupted
    (pass@k >> pass@1: the RL band), prior skills clean; no add beyond 5 digits.

    Measured once (small preset, 1,500 steps, batch 128, AdamW 1e-3, completion-only loss;
    temperature 1, G = 8) on ``make_pool(seed=0)``: easy pass@1 0.95 (informative groups 0.31),
    band pass@1 0.52 / pass@8 0.99 / greedy 0.99 (informative 0.99), hard 0.00 (6-8 digits:
    not one success in 16 samples), prior skills pass@1 0.82. Greedy accuracy is ~1 in band, so
    RL progress shows in *sampled* accuracy. Add in the reversed format (MSB first) is the
    near-impossible tier with lucky successes: pass@1 0.15 / 0.10 / 0.06 at 3 / 4 / 5 digits."""
    all_add = (Fmt.DIRECT, Fmt.SCRATCH, Fmt.CARRY, Fmt.REVERSED, Fmt.ANY)
    any_fmts = (Fmt.DIRECT, Fmt.SCRATCH, Fmt.CARRY)
    return (
        TaskConfig(ops=(Op.ADD,), formats=all_add, digits=(1, 2), any_formats=any_fmts,
                   weight=1.0),
        TaskConfig(ops=(Op.ADD,), formats=all_add, digits=(3, 5), any_formats=any_fmts,
                   label_noise=0.5, weight=2.0),
        TaskConfig(ops=(Op.REV, Op.SHIFT, Op.ROT), formats=(Fmt.DIRECT, Fmt.REVERSED),
                   digits=(1, 6), weight=1.0),
    )
