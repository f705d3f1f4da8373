"""Equivalence and near-miss cases for `math` grading, each with a careful human's verdict.

Written for lenbench from the conventions of mathematical and scientific writing (scientific
notation, significant figures, units, primes, tuples versus sets); copied from no other project.
One row: (category, answer, gold, human verdict, options). `answer` is what the model boxed, or
with `raw` the whole completion. Options: `unit` (the item's unit field), `think` (the model
closes its thinking with </think>), `extract` (the dataset's extraction strategies), `known`
(a documented limitation: the grader disagrees with the human here, see README "Grading").
Used by tests/test_grading_cases.py and scripts/grading_audit.py (the agreement table).
"""

from __future__ import annotations

from typing import NamedTuple

GSM8K = ("boxed", "####", "answer_is", "last_number")  # conf/dataset/gsm8k.yaml


class Case(NamedTuple):
    category: str
    answer: str
    gold: str | list[str]
    correct: bool
    unit: str = ""
    raw: bool = False
    think: bool = False
    extract: tuple[str, ...] | None = None
    known: str = ""

    @property
    def completion(self) -> str:
        return self.answer if self.raw else f"Reasoning omitted. The answer is $\\boxed{{{self.answer}}}$."


def _table(category: str, rows: list[tuple], **options) -> list[Case]:
    """Cases of one category: (answer, gold, verdict[, unit or a dict of options])."""
    cases = []
    for answer, gold, correct, *extra in rows:
        more = extra[0] if extra and isinstance(extra[0], dict) else {"unit": extra[0]} if extra else {}
        cases.append(Case(category, answer, gold, correct, **{**options, **more}))
    return cases


CASES: list[Case] = [
    *_table("scientific notation", [
        ("8.7e8", r"8.7\times10^{8}", True),
        ("8.7e8", "870000000", True),
        ("3.3e-10", r"3.3\times10^{-10}", True),
        ("1.28e3", "1280", True),
        ("1.28e3", r"1.28\times10^3", True),
        ("6.02e23", r"6.02\times10^{23}", True),
        ("6.02e23", r"6.02\times10^{22}", False),
        ("3.3e-10", r"3.3\times10^{-9}", False),
        ("-1.6e-19", r"-1.6\times10^{-19}", True),
        ("1.6e-19", r"-1.6\times10^{-19}", False),
        ("2.5E-3", "0.0025", True),
        ("2.5e-3", "0.0025", True),
        ("2.5e-3", "0.025", False),
        ("5e2", "500", True),
        ("5e3", "500", False),
        ("1.0e0", "1", True),
        ("9.11e-31", r"9.11\times 10^{-31}", True),
        ("9.11e-31", r"9.12\times 10^{-31}", False),
        ("4.2e+5", "420000", True),
        ("4.2e5", r"4.2\cdot10^{5}", True),
        ("e^{2}", "e^2", True),  # e alone is still Euler's number
        ("2.718281828", "e", True),
    ]),
    *_table("forms of one number", [
        ("870000000", r"8.7\times10^{8}", True),
        (r"8.7\times10^{8}", "870000000", True),
        ("870000000", r"8.7\times 10^8", True),
        ("880000000", r"8.7\times10^{8}", False),
        ("1000000", "10^{6}", True),
        ("10^6", "1000000", True),
        ("100000", "10^{6}", False),
        ("2^{10}", "1024", True),
        ("1024", "2^{10}", True),
        ("0.5", r"\frac{1}{2}", True),
        (r"\frac12", "0.5", True),
        ("1,000,000", "1000000", True),
        ("1{,}234", "1234", True),
        (r"1\,234\,567", "1234567", True),
        ("12,345.5", "12345.5", True),
        ("1,234", "1324", False),
        ("3", "3.0", True),
        ("3.01", "3", False),
        (r"\frac{6}{4}", r"\frac{3}{2}", True),
        ("1.5", r"\frac{3}{2}", True),
        (r"-\frac{1}{2}", r"\frac{-1}{2}", True),
        (r"\frac{1}{2}", r"-\frac{1}{2}", False),
        ("142.0", "142", True),
    ]),
    *_table("very small magnitudes", [
        (r"3.3\times10^{-17}", r"3.3\times10^{-17}", True),
        (r"3.4\times10^{-17}", r"3.3\times10^{-17}", False),  # a changed digit
        (r"3.3\times10^{-16}", r"3.3\times10^{-17}", False),  # x10
        (r"-3.3\times10^{-17}", r"3.3\times10^{-17}", False),  # a sign flip
        ("3.3e-17", r"3.3\times10^{-17}", True),
        (r"3.30\times10^{-17}", r"3.3\times10^{-17}", True),
        (r"1.0\times10^{-20}", "10^{-20}", True),
        (r"2\times10^{-20}", "10^{-20}", False),
        ("10^{-19}", "10^{-20}", False),
        (r"6.626\times10^{-34}", r"6.626\times10^{-34}", True),
        (r"6.627\times10^{-34}", r"6.626\times10^{-34}", False),
        (r"6.626\times10^{-33}", r"6.626\times10^{-34}", False),
        (r"1.6\times10^{-19}", r"1.60\times10^{-19}", True),
        (r"1.62\times10^{-19}", r"1.6\times10^{-19}", True),  # agrees to the gold's two figures
        (r"1.66\times10^{-19}", r"1.6\times10^{-19}", False),
        ("0.0000000001", "10^{-10}", True),
        ("0.000000001", "10^{-10}", False),
        (r"5\times10^{-18}", r"5\times10^{-17}", False),
        (r"1.2\times10^{-30}", r"-1.2\times10^{-30}", False),
        (r"2.9979\times10^{-16}", r"2.998\times10^{-16}", True),
    ]),
    *_table("decimals and precision", [
        ("-3./2", "-1.5", True),
        ("-3./2", "-3", False),
        ("3.", "3", True),
        ("-0.3333", r"-\frac{1}{3}", True),
        ("-0.333", r"-\frac{1}{3}", True),
        ("-0.3", r"-\frac{1}{3}", False),  # too coarse for an exact gold
        ("0.6667", r"\frac{2}{3}", True),
        ("0.667", r"\frac{2}{3}", True),
        ("0.67", r"\frac{2}{3}", False),
        ("1.414", r"\sqrt{2}", True),
        ("1.41", r"\sqrt{2}", True),
        ("1.4", r"\sqrt{2}", False),
        ("3.1416", r"\pi", True),
        ("3.14", r"\pi", True),
        ("3.15", r"\pi", False),
        ("2.5", "2.50", True),
        ("2.50", "2.5", True),
        ("18.90", r"\$18.90", True),
        ("18.9", "18.90", True),
        ("18.95", "18.90", False),
        ("0.05", r"\frac{1}{20}", True),
        ("0.1", r"\frac{1}{10}", True),
        ("0.10", "0.1", True),
        ("-1.25", r"-\frac{5}{4}", True),
        ("1.25", r"-\frac{5}{4}", False),
        ("2.0", "2", True),
        ("0.52", "0.5", True),  # the gold states one decimal place
        ("0.5", "0.52", False),  # an answer coarser than the gold
        ("4.19", "4.2", False, {"known":
         "a decimal gold is read to its own precision, so 4.19 rounds to the gold 4.2"}),
    ]),
    *_table("whitespace", [
        (r"\frac{4 A}{3+3 i}", r"\frac{4A}{3+3i}", True),
        (r"\frac{4A}{3+3i}", r"\frac{4 A}{3+3 i}", True),
        ("2 x + 1", "2x+1", True),
        ("x ^ { 2 }", "x^2", True),
        (r"\sqrt { 2 }", r"\sqrt{2}", True),
        (r"\frac { 1 } { 2 }", "0.5", True),
        ("a b", "ab", True),
        (r"2 \pi r", r"2\pi r", True),
        (r"\pi r^2", r"\pi r ^2", True),
        ("3 i", "3i", True),
        ("4 A", "4B", False),
        ("2 x + 1", "2x-1", False),
        (r"\frac{4 A}{3+3 i}", r"\frac{4A}{3-3i}", False),
        (r"x\,y", "xy", True),
        ("( 1 , 2 )", "(1,2)", True),
        ("( 2 , 1 )", "(1,2)", False),
        (r"\sin x", r"\sin(x)", True),
        ("a  +  b", "b+a", True),
        (r"2 \cdot 3", "6", True),
        (r"\text{no solution}", r"\text{no solution}", True),
    ]),
    *_table("primes", [
        (r"x^{\prime}", "x'", True),
        ("x'", r"x^{\prime}", True),
        (r"x^\prime", r"x^{\prime}", True),
        ("x", r"x^{\prime}", False),
        ("x'", "x", False),
        ("x''", r"x^{\prime\prime}", True),
        ("x'", r"x^{\prime\prime}", False),
        (r"x^{\prime\prime}", "x''", True),
        ("y'", "x'", False),
        ("A'", r"A^{\prime}", True),
        ("A", "A'", False),
        ("2x'", r"2x^{\prime}", True),
        ("x'+1", r"x^{\prime}+1", True),
        ("x+1", r"x^{\prime}+1", False),
        ("(x', y')", r"(x^{\prime}, y^{\prime})", True),
        ("(x, y)", r"(x^{\prime}, y^{\prime})", False),
        ("B'C'", r"B^{\prime}C^{\prime}", True),
        ("BC", r"B^{\prime}C^{\prime}", False),
    ]),
    *_table("units", [
        ("1950", r"1950^\circ C", True),
        (r"1950^\circ C", "1950", True),
        (r"1950^{\circ}\mathrm{C}", r"1950^\circ C", True),
        ("1905", r"1950^\circ C", False),
        ("0.003", r"0.003^{\prime\prime}", True),
        ("0.003''", r"0.003^{\prime\prime}", True),
        ("0.03", r"0.003^{\prime\prime}", False),
        ("12", r"12~\mathrm{cm}", True),
        (r"12\text{ cm}", "12", True),
        (r"12~\mathrm{cm}", r"12 \text{cm}", True),
        ("13", r"12~\mathrm{cm}", False),
        ("440", "440 Hz", True),
        (r"440\,\mathrm{Hz}", "440", True),
        ("44", "440 Hz", False),
        (r"3\times10^{8}~\mathrm{cm}", r"3\times10^{8}", True),
        (r"3\times10^{8}", r"3\times10^{8}~\mathrm{cm}", True),
        ("10", r"3\times10^{8}~\mathrm{cm}", False),
        (r"2.5\times10^{8}~\mathrm{cm}", r"2.5\times10^{8}", True),
        (r"\frac{1}{\sqrt2}", r"\frac{1}{\sqrt2}c", False),  # c, the speed of light, is part of the value
        (r"\frac{c}{\sqrt{2}}", r"\frac{1}{\sqrt2}c", True),
        (r"9.8\,\mathrm{m/s^2}", "9.8", True),
        (r"9.8 \text{ m/s}^2", "9.8", True),
        (r"5 \text{ km/h}", "5", True),
        ("3x", "3", False),  # a trailing variable is not a unit
        ("2m", "2m", True),
        (r"20 \text{ dollars}", "20", True),
        (r"7 \text{ units}", "7", True),
        (r"7 \text{ square units}", "7", True),
        (r"6.0\,\mathrm{eV}", "6 eV", True),
        (r"1.5\,\mathrm{kg}", "1.5", True),
        (r"15\,\mathrm{kg}", "1.5", False),
        (r"45\text{ minutes}", "45", True, "minutes"),
        (r"\frac{600}{7}\text{ km/h}", r"$\frac{600}{7}$", True, "km/h"),
        (r"166 \mathrm{cm}^{2}", "$166$", True, "$cm^2$"),
        (r"4.2\%", "4.2", True, "%"),
        (r"90^\circ", "90", True, r"^{\circ}"),
        ("91", "90", False, r"^{\circ}"),
    ]),
    *_table("alternatives and multi-part answers", [
        ("3", ["3", "4"], True),
        ("4", ["3", "4"], True),
        ("5", ["3", "4"], False),
        ("3, 4", ["3", "4"], False),  # hedging between alternatives
        (r"\frac{1}{2}", ["0.5", r"50\%"], True),
        ("x=2", ["2", "x=2"], True),
        ("(1,2)", ["(1,2)", "(2,1)"], True),
        ("(2,1)", ["(1,2)", "(2,1)"], True),
        ("(2,2)", ["(1,2)", "(2,1)"], False),
        (r"\sqrt{2}", [r"\sqrt2", r"-\sqrt2"], True),
        (r"-\sqrt{2}", [r"\sqrt2", r"-\sqrt2"], True),
        ("2", [r"\sqrt2", r"-\sqrt2"], False),
        ("69, 84", "69, 84", True),  # all-of: the loader joins the parts
        ("84, 69", "69, 84", True),
        ("69", "69, 84", False),
        ("69, 84, 100", "69, 84", False),
        (r"so $\boxed{69}$ and $\boxed{84}$", "69, 84", True, {"raw": True}),
        (r"$\boxed{69}$. Then $\boxed{84}$", "69, 84", False, {"raw": True}),
    ]),
    *_table("extraction", [
        ("The answer is 42.", "42", True),
        (r"The final answer is $\frac{1}{2}$.", "0.5", True),
        ("Final Answer: The final answer is $7$. I hope it is correct.", "7", True),
        ("**Answer:** 12", "12", True),
        ("Answer: 12", "13", False),
        ("The answer is 18", "18", True),
        (r"The answer is $x = 5$.", "5", True),
        (r"First $\boxed{3}$, but rechecking gives $\boxed{4}$.", "4", True),
        (r"First $\boxed{3}$, but rechecking gives $\boxed{4}$.", "3", False),
        (r"\boxed{\frac{1}{2}} and more \boxed{x^{2}}", "x^2", True),
        (r"The answer is \boxed{5}.", "5", True),
        (r"answer: \boxed{18", "18", False),
        (r"$\boxed{\text{(C)}}$", r"\text{(C)}", True),
        (r"$\boxed{x = 5}$", "5", True),
        ("The result is 18.", "18", False),  # no answer stated: the prompt asked for a box
        (r"\boxed{5} is what I first get. Actually, the answer is 6.", "6", True, {"known":
         "strategies are tried in order, so a box anywhere wins over a later stated answer"}),
    ], raw=True),
    *_table("extraction", [
        ("#### 42", "42", True),
        ("#### 1,234", "1234", True),
        ("Total: 40 + 2 = 42 dollars.\n#### 42", "42", True),
        ("She has 5 apples, then 7 more.\nSo in total 12", "12", True),
        ("She has 5 apples, then 7 more.", "12", False),
        ("#### 41", "42", False),
    ], raw=True, extract=GSM8K),
    *_table("extraction after thinking", [
        (r"<think>\boxed{41}</think> The answer is 42", "42", True),
        (r"<think>\boxed{41}</think> The answer is 42", "41", False),
        (r"<think>the answer is 42 ... wait</think> So $\boxed{43}$.", "43", True),
        (r"<think>the answer is 42 ... wait</think> So $\boxed{43}$.", "42", False),
        (r"<think>so \boxed{42}, but let me check", "42", False),  # never finished thinking
        (r"<think>a</think> b <think>c</think> The answer is 7.", "7", True),
        ("<think>hmm</think> Nothing to report.", "7", False),
    ], raw=True, think=True),
    *_table("tuples and sets", [
        ("(10, 4, -2)", "(4, 10, -2)", False),
        ("(4, 10, -2)", "(4, 10, -2)", True),
        ("(1,2)", "(2,1)", False),
        ("(2,1)", "(1,2)", False),
        (r"\{1, 2\}", r"\{2, 1\}", True),
        (r"\{2,1,3\}", r"\{1,2,3\}", True),
        (r"\{1,2\}", r"\{1,2,3\}", False),
        (r"\{4,10,-2\}", "(10,4,-2)", False),  # a set is not the ordered triple
        ("1, 2, 3", "3, 2, 1", True),  # a list of solutions: any order
        ("1, 3", "1, 3, 5", False),
        ("1, 2, 3", "1, 2", False),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \frac{\pi}{2})", True),
        (r"(\frac{\pi}{2}, 3)", r"(3, \frac{\pi}{2})", False),
        ("[1,2)", "[1,2]", False),
        ("[1,2]", "[1, 2]", True),
        (r"(-\infty, 0]", r"(-\infty,0]", True),
        (r"(0, \infty)", r"(-\infty,0]", False),
        ("(1,8,19), (2,7,13)", "(2,7,13), (1,8,19)", True),
        ("(8,1,19), (2,7,13)", "(2,7,13), (1,8,19)", False),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", True),
        (r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", False),
        ("(1, 2, 3)", "(1, 2, 3, 4)", False),
    ]),
    *_table("expressions", [
        (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2", True),
        ("x+1", "1+x", True),
        ("x-1", "x+1", False),
        ("2x", "x^2", False),
        ("(x+1)^2", "x^2+2x+1", True),
        (r"\sqrt{8}", r"2\sqrt{2}", True),
        (r"\sqrt{2}", "2", False),
        (r"\dfrac{3}{4}", r"\frac34", True),
        (r"\pi", r"\frac{\pi}{2}", False),
        (r"\text{east}", r"\text{west}", False),
        (r"\text{east}", r"\text{east}", True),
        ("y = 2x + 3", "y=2x+3", True),
        (r"\log_2 8", "3", True),
        ("i^2", "-1", True, {"known": "math-verify reads a bare i as a variable, not the imaginary unit"}),
        (r"x \le 3", r"x \leq 3", True),
        ("x < 3", r"x \le 3", False),
    ]),
]
