"""The expression language: syntax, operators, placeholders as values, both function libraries,
the cost bounds, and property tests (print/parse round trip; random text fails cleanly)."""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_workflow.errors import ExpressionError
from webhook_workflow.variables.expressions import (
    ENGINES,
    LIBRARIES,
    Expression,
    compile_expression,
)
from webhook_workflow.variables.expressions.evaluate import evaluate_tree
from webhook_workflow.variables.expressions.parser import parse
from webhook_workflow.variables.expressions.tree import (
    Binary,
    Call,
    Chain,
    Cond,
    Interp,
    ListOf,
    Lit,
    Node,
    Unary,
    Var,
    to_source,
)
from webhook_workflow.variables.templates import compile_template

SCOPE: dict[str, Any] = {
    "$context": {"headers": {}, "query": {"q": "7"}, "body": {
        "n": 4, "f": 2.5, "s": "7", "word": "hi", "none": None, "flag": True,
        "items": [{"price": 1.5}, {"price": 2}], "nums": [3, 1, 2], "obj": {"a": 1},
        "evil": "1); import os", "code": "{{$context.body.n}}", "nan": float("nan")}},
    "$jobsMapByNodeKey": {"calc": 10},
    "$scopes": {}, "$system": {}, "$env": {},
}


def run(source: str, engine: str = "math.js", scope: dict[str, Any] | None = None) -> Any:
    return compile_expression(engine, source).evaluate(SCOPE if scope is None else scope)


def same(actual: Any, expected: Any) -> bool:
    """Equal with the same types (``2`` is not ``2.0``, ``1`` is not ``True``)."""
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            same(a, e) for a, e in zip(actual, expected, strict=True))
    return type(actual) is type(expected) and actual == expected


# -- operators, precedence, literals ---------------------------------------------------------------
OPERATORS: list[tuple[str, Any]] = [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("2 * 3 % 4", 2), ("8 / 2 / 2", 2),
    ("-2^2", -4), ("(-2)^2", 4), ("2^3^2", 512), ("2^-1", 0.5), ("-3 + 5", 2), ('+"3"', 3),
    ("- -3", 3), ("7 % 3", 1), ("-7 % 3", 2), ("7.5 % 2", 1.5), ("6 / 3", 2), ("7 / 2", 3.5),
    ("0.5 * 4", 2.0), ("1e3", 1000.0), (".5 + 1", 1.5), ("2.", 2.0), ("1 + 2 == 3", True),
    ("1 < 2 and 2 < 3", True), ("1 < 2 && 3 < 2", False), ("0 || 2", True), ("1 and 0", False),
    ("not 0", True), ("!1", False), ("not 1 == 0", True), ("not (1 == 0)", True),
    ("false and 1/0", False), ("true or 1/0", True), ("true ? 1 : 1/0", 1),
    ('1 ? "a" : "b"', "a"), ('0 ? "a" : "b"', "b"), ("false ? 1 : true ? 2 : 3", 2),
    ('1 + 1 ? "x" : "y"', "x"), ('"" ? 1 : 2', 2), ("[] ? 1 : 2", 1), ("null ? 1 : 2", 2),
    ('"a" + "b"', "ab"), ('"a" + 1', "a1"), ('1 + "a"', "1a"), ('"a" + null', "a"),
    ('1 + 2 + "x"', "3x"), ('"x" + 1 + 2', "x12"), ('"x" + 0.5', "x0.5"), ('"" + true', "true"),
    ("true + 1", 2), ("null + 1", 1), ('"3" * "4"', 12), ('"3" - 1', 2), ('" 2 " * 2', 4),
    ("[1, 2, 3]", [1, 2, 3]), ("[]", []), ("[1, [2]]", [1, [2]]), ("true", True), ("null", None),
    ("2 ^ 10", 1024), ("4 ^ 0.5", 2.0), ("0 ^ 0", 1), ("(-1) ^ 3", -1), ("1 ^ 100000", 1),
("", None), ("   ", None),
]


@pytest.mark.parametrize(("source", "expected"), OPERATORS)
def test_operators_and_precedence(source: str, expected: Any) -> None:
    assert same(run(source), expected)


COMPARISONS: list[tuple[str, bool]] = [
    ('"1" == 1', True), ("1 == 1.0", True), ("null == 0", False), ("null == null", True),
    ('"abc" < "abd"', True), ('"10" > 9', True), ('"10" > "9"', False), ("true == 1", True),
    ("[1, 2] == [1, 2]", True), ("[1] != [2]", True), ("null < 1", False), ("null >= 0", False),
    ('"a" != "b"', True), ('"x" < 1', False), ("2 >= 2", True), ("2 <= 1", False),
]


@pytest.mark.parametrize(("source", "expected"), COMPARISONS)
def test_comparisons_are_loose_like_the_basic_calculators(source: str, expected: bool) -> None:
    assert run(source) is expected


ROUNDING: list[tuple[str, Any]] = [
    ("0.1 + 0.2", 0.3), ("1 / 3", 0.333333333), ("2 / 3", 0.666666667), ("1e-10", 0.0),
    ("10 / 4", 2.5), ("round(2.5)", 3), ("round(-2.5)", -3), ("round(1.005, 2)", 1.01),
    ("1e300 * 10", 1e301), ("2 ^ 0.5", 1.414213562),
]


@pytest.mark.parametrize(("source", "expected"), ROUNDING)
def test_float_results_are_rounded_to_9_decimals(source: str, expected: Any) -> None:
    assert same(run(source), expected)


def test_negative_zero_is_plain_zero() -> None:
    assert math.copysign(1.0, run("-1e-10")) == 1.0


STRINGS: list[tuple[str, str]] = [
    ("'single'", "single"), ('"double"', "double"), ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'), (r'"a\"b"', 'a"b'), (r"'a\'b'", "a'b"),
    (r'"line\nbreak"', "line\nbreak"), (r'"tab\t"', "tab\t"), (r'"\\"', "\\"),
    (r'"\u00e9"', "é"), (r'"\x41"', "A"), (r'"\q"', "q"), ('"😀"', "😀"),
    (r'"\ud83d\ude00"', "😀"), (r'"\{{not a placeholder}}"', "{{not a placeholder}}"),
    ('"n={{$context.body.n}}!"', "n=4!"), ('"{{$context.body.none}}"', ""),
    ("'{{$context.body.n}}{{$context.body.word}}'", "4hi"), ('""', ""),
]


@pytest.mark.parametrize(("source", "expected"), STRINGS)
def test_strings_quotes_and_escapes(source: str, expected: str) -> None:
    assert run(source) == expected


# -- placeholders are values ------------------------------------------------------------------
PLACEHOLDERS: list[tuple[str, Any]] = [
    ("{{$context.body.n}} + 1", 5), ("{{$context.body.s}} + 1", "71"),
    ("{{$context.body.s}} * 2", 14), ("number({{$context.body.s}}) + 1", 8),
    ("{{$context.body.word}}", "hi"), ("sum({{$context.body.items.price}})", 3.5),
    ("max({{$context.body.nums}})", 3), ("{{$context.body.none}}", None),
    ("{{$context.body.missing}}", None), ("{{$context.body.missing}} == null", True),
    ("{{$context.body.missing}} + 1", 1), ("{{$context.body.missing:5}}", "5"),
    ("{{$context.body.missing:5}} + 1", "51"), ("number({{ $context.body.missing:5 }}) + 1", 6),
    ("{{$context.body.evil}}", "1); import os"), ("{{$context.body.code}}", "{{$context.body.n}}"),
    ("{{$context.body.obj}}", {"a": 1}), ("{{ $context.body.n }} * {{$context.body.f}}", 10.0),
    ("{{ctx.$context.body.n}}", 4), ("{{$jobsMapByNodeKey.calc}} / 4", 2.5),
    ("count({{$context.body.nums}})", 3), ('{{$context.body.flag}} ? "y" : "n"', "y"),
    ("{{$context.query.q}} == 7", True), ("{{$context.body.items}}", [{"price": 1.5},
                                                                     {"price": 2}]),
]


@pytest.mark.parametrize(("source", "expected"), PLACEHOLDERS)
def test_placeholders_are_bound_as_typed_values(source: str, expected: Any) -> None:
    assert same(run(source), expected)


@pytest.mark.parametrize("value", ["1); import os", "__import__('os')", "2+2", "{{$env}}",
                                   "\" + 1 + \"", "a.b", "1/0"])
def test_a_value_is_never_read_as_source(value: str) -> None:
    scope = {**SCOPE, "$context": {"body": {"v": value}}}
    assert run("{{$context.body.v}}", scope=scope) == value
    assert run('"<" + {{$context.body.v}} + ">"', scope=scope) == f"<{value}>"
    assert run("LEN({{$context.body.v}})", "formula.js", scope) == len(value)


# -- the string engine ------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    ("x={{$context.body.n}}", "x=4"), ("{{$context.body.n}}", "4"),
    ("{{$context.body.none}}|{{$context.body.missing}}|{{$context.body.nan}}", "||"),
    ("{{$context.body.obj}}", '{"a":1}'),
    ("{{$context.body.f}} {{$context.body.flag}}", "2.5 true"),
    ("1 + 1", "1 + 1"), ("", None), ("{{$context.body.missing:dflt}}", "dflt"),
])
def test_string_engine_splices_text(source: str, expected: Any) -> None:
    assert run(source, "string") == expected


# -- function libraries -----------------------------------------------------------------------
MATHJS_CASES: list[tuple[str, Any]] = [
    ("abs(-3)", 3), ("abs(-2.5)", 2.5), ("acos(1)", 0.0), ("add(2, 3)", 5), ("and(1, 0)", False),
    ("asin(0)", 0.0), ("atan(0)", 0.0), ("atan2(1, 1)", 0.785398163), ("cbrt(27)", 3.0),
    ("cbrt(-8)", -2.0), ("ceil(1.2)", 2), ("ceil(-1.2)", -1), ('concat("a", 1, true)', "a1true"),
    ("concat([1], [2, 3])", [1, 2, 3]), ("cos(0)", 1.0), ('count("abc")', 3), ("count([1, 2])", 2),
    ("cube(3)", 27), ("divide(7, 2)", 3.5), ('equal("1", 1)', True), ("exp(0)", 1.0),
    ("factorial(5)", 120), ("fix(-1.7)", -1), ("floor(-1.2)", -2), ("gcd(12, 18)", 6),
    ("hypot(3, 4)", 5.0), ("isInteger(2.0)", True), ("isInteger(2.5)", False),
    ("isNegative(-1)", True), ('isNumeric("1")', False), ("isNumeric(1)", True),
    ("isPositive(2)", True), ("isZero(0)", True), ("larger(2, 1)", True), ("largerEq(2, 2)", True),
    ("lcm(4, 6)", 12), ("log(e)", 1.0), ("log(8, 2)", 3.0), ("log10(1000)", 3.0), ("log2(8)", 3.0),
    ("max(1, [5, 2])", 5), ("mean(1, 2, 3)", 2), ("mean([1, 2])", 1.5), ("median(3, 1, 2)", 2),
    ("median(1, 2, 3, 4)", 2.5), ("min(4, 2.5)", 2.5), ("mod(-7, 3)", 2),
    ("multiply(4, 2.5)", 10.0),
    ('number("12")', 12), ('number("1.5")', 1.5), ("number(true)", 1), ("number(null)", 0),
    ('or(0, "")', False), ("pow(2, 10)", 1024), ("prod(2, 3, 4)", 24), ("round(3.14159, 3)", 3.142),
    ("round(7)", 7), ("sign(-3)", -1), ("sin(0)", 0.0), ("smaller(1, 2)", True),
    ("smallerEq(2, 1)", False), ("sqrt(16)", 4.0), ("square(5)", 25),
    ("std(2, 4, 4, 4, 5, 5, 7, 9)", 2.138089935), ("string(12)", "12"), ("string(null)", ""),
    ("subtract(5, 7)", -2), ("sum(1, 2.5, [3])", 6.5), ("sum([])", 0), ("tan(0)", 0.0),
    ("trunc(2.7)", 2), ('unequal(1, "1")', False), ("variance(1, 2, 3, 4)", 1.666666667),
    ("xor(1, 0)", True), ("pi", 3.141592654), ("PI", 3.141592654), ("e", 2.718281828),
    ("E", 2.718281828), ("tau", 6.283185307), ("phi", 1.618033989), ("LN2", 0.693147181),
    ("LN10", 2.302585093), ("LOG2E", 1.442695041), ("LOG10E", 0.434294482), ("SQRT2", 1.414213562),
    ("SQRT1_2", 0.707106781),
]

FORMULAJS_CASES: list[tuple[str, Any]] = [
    ("ABS(-2)", 2), ('AND(1, true, "x")', True), ("AND(1, 0)", False), ("AND([1, 1])", True),
    ("AVERAGE(1, 2, 3, 4)", 2.5), ("AVERAGE([2, 4], null)", 3), ("CEILING(2.1)", 3),
    ("CEILING(2.3, 0.5)", 2.5), ("CEILING(7, 5)", 10), ("CEILING(-2.5, 2)", -2),
    ("CEILING(5, 0)", 0), ('CONCAT("a", [1, 2], "b")', "a12b"),
    ('CONCATENATE("a", 1, true, null)', "a1true"), ('COUNT(1, "2", [3, null], true)', 2),
    ('COUNTA(1, null, "", [2])', 3), ('EXACT("a", "A")', False), ('EXACT(1, "1")', True),
    ("EXP(1)", 2.718281828), ('FIND("b", "abcb")', 2), ('FIND("b", "abcb", 3)', 4),
    ('FIND("B", "abc")', None), ("FLOOR(2.7)", 2), ("FLOOR(2.3, 0.1)", 2.3), ("FLOOR(-2.5, 2)", -4),
    ('IF(1 > 2, "a", "b")', "b"), ("IF(false, 1)", False), ("IF(true, 1)", 1),
    ("IF(true, 1, 1/0)", 1), ("IFS(false, 1, true, 2)", 2), ("INT(-1.5)", -2),
    ("ISBLANK(null)", True), ('ISBLANK("")', False), ("ISEVEN(4)", True), ("ISEVEN(3.9)", False),
    ("ISLOGICAL(true)", True), ('ISNUMBER("1")', False), ("ISNUMBER(1.5)", True),
    ('ISNUMBER(SEARCH("z", "abc"))', False), ("ISODD(3)", True), ('ISTEXT("a")', True),
    ('LEFT("hello", 2)', "he"), ('LEFT("hello")', "h"), ('LEN("héllo")', 5), ("LEN(123)", 3),
    ("LN(1)", 0.0), ("LOG(100)", 2.0), ("LOG(8, 2)", 3.0), ("LOG10(1000)", 3.0),
    ('LOWER("AbC")', "abc"), ("MAX(1, [7, 3])", 7), ("MAX(null)", 0), ("MEDIAN(1, 3, 2)", 2),
    ('MID("abcdef", 2, 3)', "bcd"), ("MIN(4, 2)", 2), ("MIN(null)", 0), ("MOD(-7, 3)", 2),
    ('OR(0, "", null)', False), ("OR(0, 1)", True), ("PI()", 3.141592654),
    ("POWER(2, 0.5)", 1.414213562), ("PRODUCT(2, [3, 4])", 24), ("PRODUCT(null)", 0),
    ('PROPER("hello wORLD")', "Hello World"), ('REPLACE("abcdef", 2, 3, "X")', "aXef"),
    ('REPT("ab", 3)', "ababab"), ('REPT("ab", 0)', ""), ('RIGHT("hello", 3)', "llo"),
    ('RIGHT("hello", 0)', ""), ("ROUND(2.345, 2)", 2.35), ("ROUND(1234.5, -2)", 1200),
    ("ROUND(-2.5)", -3), ("ROUNDDOWN(2.789, 1)", 2.7), ("ROUNDDOWN(-2.7)", -2),
    ("ROUNDUP(2.111, 1)", 2.2), ("ROUNDUP(-2.1)", -3), ('SEARCH("B", "abc")', 2),
    ("SIGN(-0.5)", -1), ("SQRT(9)", 3.0), ('SUBSTITUTE("a-b-c", "-", "+")', "a+b+c"),
    ('SUBSTITUTE("a-b-c", "-", "+", 2)', "a-b+c"), ('SUBSTITUTE("abc", "", "x")', "abc"),
    ('SUM(1, "2", [3, null])', 6), ('SWITCH(2, 1, "one", 2, "two")', "two"),
    ('SWITCH(3, 1, "one", "other")', "other"), ('SWITCH("1", 1, "loose")', "loose"),
    ('TEXTJOIN(", ", true, "a", "", null, ["b"])', "a, b"),
    ('TEXTJOIN("-", false, "a", "", "b")', "a--b"), ('TRIM("  a   b  ")', "a b"),
    ("TRUNC(-2.7)", -2), ("TRUNC(3.14159, 2)", 3.14), ('UPPER("abc")', "ABC"),
    ('VALUE("12.5")', 12.5), ('VALUE(" 3 ")', 3), ("VALUE(4)", 4), ("XOR(1, 1, 1)", True),
    ("XOR(1, 1)", False), ("NOT(1)", False), ("sum(1, 2)", 3), ("Sum(1, 2)", 3),
    ("TRUE", True), ("False", False), ("NULL", None), ('"a" & 1 & true', "a1true"),
    ('1 + 2 & "x"', "3x"), ('"a" & "b" == "ab"', True), ("1 AND 0", False), ("1 Or 0", True),
]


@pytest.mark.parametrize(("source", "expected"), MATHJS_CASES)
def test_mathjs_functions(source: str, expected: Any) -> None:
    assert same(run(source, "math.js"), expected)


@pytest.mark.parametrize(("source", "expected"), FORMULAJS_CASES)
def test_formulajs_functions(source: str, expected: Any) -> None:
    assert same(run(source, "formula.js"), expected)


@pytest.mark.parametrize(("engine", "cases"), [("math.js", MATHJS_CASES),
                                               ("formula.js", FORMULAJS_CASES)])
def test_every_function_and_constant_is_covered(engine: str, cases: list[tuple[str, Any]]) -> None:
    library = LIBRARIES[engine]
    used = {word for source, _ in cases for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)}
    missing = (set(library.functions) | set(library.constants)) - used
    assert not missing


def test_function_names_are_case_sensitive_in_mathjs_only() -> None:
    with pytest.raises(ExpressionError, match=r"unknown function 'ROUND' in math\.js"):
        compile_expression("math.js", "ROUND(1)")
    assert run("round(1.5)", "formula.js") == 2


# -- errors -----------------------------------------------------------------------------------
COMPILE_ERRORS: list[tuple[str, str, str]] = [
    ("math.js", "1 +", "unexpected end of expression"),
    ("math.js", "(1", "unexpected end of expression"),
    ("math.js", "1)", "unexpected ')' at column 2"),
    ("math.js", "1 2", "unexpected number at column 3"),
    ("math.js", "foo(1)", "unknown function 'foo' in math.js at column 1"),
    ("math.js", "x + 1", "unknown name 'x'"),
    ("math.js", "sum", "a function? call it with parentheses"),
    ("math.js", "pi()", "unknown function 'pi'"),
    ("math.js", "a.b", "attribute access ('.') is not supported"),
    ("math.js", "1 == 2 == 3", "comparisons do not chain"),
    ("math.js", "1 < 2 > 0", "comparisons do not chain"),
    ("math.js", "round(1, 2, 3)", "round() takes 1 to 2 arguments, got 3"),
    ("math.js", "sqrt()", "sqrt() takes 1 argument, got 0"),
    ("formula.js", "IFS(true, 1, false)", "IFS() takes pairs of arguments, got 3"),
    ("formula.js", "SWITCH(1, 2)", "SWITCH() takes at least 3 arguments, got 2"),
    ("math.js", '"abc', "unterminated string at column 1"),
    ("math.js", "'abc\\", "unterminated string"),
    ("math.js", "1 = 1", "'=' is not an operator; compare with '=='"),
    ("math.js", "1 === 1", "'===' is not an operator"),
    ("math.js", "1 <> 2", "'<>' is not an operator"),
    ("math.js", "2 ** 3", "'**' is not an operator; use '^'"),
    ("math.js", "1 | 2", "'|' is not an operator"),
    ("math.js", '"a" & "b"', "'&' concatenates text only in formula.js"),
    ("math.js", "$context.body", "variables are written as placeholders"),
    ("math.js", "{{$nope.x}}", "unknown variable '$nope'"),
    ("math.js", "{x}", "'{' starts nothing here"),
    ("math.js", "[1, 2][0]", "indexing with [...] is not supported"),
    ("math.js", "(1)(2)", "only function names can be called"),
    ("math.js", r"'\u12'", "invalid \\u escape"),
    ("math.js", r"'\ud800'", "unpaired surrogate"),
    ("math.js", "2e", "invalid number '2e'"),
    ("math.js", "1_000", "invalid number"),
    ("math.js", "1e999", "is too large"),
    ("math.js", "9" * 1400, "larger than 4096 bits"),
    ("math.js", "1 #", "unexpected character '#'"),
    ("math.js", "and", "unexpected 'and'"),
    ("math.js", "1 +\n  * 2", "unexpected '*' at line 2, column 3"),
    ("math.js", "1" + "+1" * 5000, "longer than 10000 characters"),
    ("string", "x" * 10001, "longer than 10000 characters"),
    ("math.js", "(" * 65 + "1" + ")" * 65, "nests deeper than 64 levels"),
    ("math.js", "-" * 100 + "1", "nests deeper than 64 levels"),
    ("math.js", "2^" * 100 + "2", "nests deeper than 64 levels"),
    ("math.js", "1 ? " * 100 + "1" + " : 0" * 100, "nests deeper than 64 levels"),
    ("math.js", "abs(" * 70 + "1" + ")" * 70, "nests deeper than 64 levels"),
    ("nope.js", "1", "unknown engine 'nope.js'"),
]


@pytest.mark.parametrize(("engine", "source", "message"), COMPILE_ERRORS)
def test_compile_errors_say_what_and_where(engine: str, source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(engine, source)
    assert message in str(caught.value)


RUN_ERRORS: list[tuple[str, str, str]] = [
    ("math.js", "1 / 0", "division by zero"),
    ("math.js", "1 / 0.0", "division by zero"),
    ("math.js", "5 % 0", "modulo by zero"),
    ("math.js", "mod(5, 0)", "mod: modulo by zero"),
    ("math.js", "0 ^ -1", "division by zero"),
    ("math.js", "10.0 ^ 400", "not a finite number"),
    ("math.js", "1e308 * 10", "not a finite number"),
    ("math.js", "exp(1000)", "exp: result is not a finite number"),
    ("math.js", "sqrt(-1)", "sqrt: needs a number >= 0"),
    ("math.js", "log(0)", "log: needs a number > 0"),
    ("math.js", "log(8, 1)", "the base must be > 0 and not 1"),
    ("math.js", "asin(2)", "asin: invalid argument"),
    ("math.js", "(-8) ^ (1/3)", "not a real number"),
    ("math.js", "2 ^ 5000", "larger than 4096 bits"),
    ("math.js", "9^9^9^9", "larger than 4096 bits"),
    ("math.js", "(2 ^ 4000) * (2 ^ 4000)", "larger than 4096 bits"),
    ("math.js", "2 ^ 4000 + 0.5", "not a finite number"),
    ("math.js", "'a' * 2", "cannot use 'a' as a number"),
    ("math.js", "-'a'", "cannot use 'a' as a number"),
    ("math.js", "[1] + 1", "cannot use array as a number"),
    ("math.js", "{{$context.body.obj}} * 1", "cannot use object as a number"),
    ("math.js", "max(null)", "max: needs at least one number"),
    ("math.js", "sum({{$context.body.obj}})", "sum: cannot use object as a number"),
    ("math.js", "sum('x')", "sum: cannot use 'x' as a number"),
    ("math.js", "factorial(171)", "not a finite number"),
    ("math.js", "factorial(-1)", "must not be negative"),
    ("math.js", "factorial(1.5)", "must be an integer"),
    ("math.js", "round(1.5, 16)", "must be 0..15"),
    ("math.js", "std(1)", "needs at least two numbers"),
    ("math.js", "count(1)", "needs a string or a list"),
    ("math.js", "lcm(2 ^ 3000, 3 ^ 1800)", "larger than 4096 bits"),
    ("math.js", "{{$context.body.nan}}", "not a finite number"),
    ("formula.js", "IFS(false, 1)", "IFS: no condition is true"),
    ("formula.js", "SWITCH(3, 1, 2)", "SWITCH: no case matches"),
    ("formula.js", "VALUE('abc')", "is not a number"),
    ("formula.js", "VALUE('')", "is not a number"),
    ("formula.js", "AVERAGE(null)", "AVERAGE: needs at least one number"),
    ("formula.js", 'REPT("x", 1e9)', "longer than 1000000 characters"),
    ("formula.js", 'REPT("x", -1)', "must not be negative"),
    ("formula.js", "MID('abc', 0, 1)", "the start must be >= 1"),
    ("formula.js", "FLOOR(5, 0)", "FLOOR: division by zero"),
    ("formula.js", "CEILING(5, -1)", "the significance must have the sign"),
    ("formula.js", "SUBSTITUTE('a', 'a', 'b', 0)", "the instance must be >= 1"),
    ("formula.js", 'REPT("x", 999999) & REPT("x", 999999)', "longer than 1000000"),
    ("formula.js", "ISEVEN('x')", "ISEVEN: cannot use 'x' as a number"),
    ("formula.js", "IF(true, 1/0, 1)", "division by zero"),
    ("formula.js", "LEN(REPT('x', 999999)) " + "+ LEN(REPT('x', 999999)) " * 120,
     "exceeded its budget of 100000 steps"),
]


@pytest.mark.parametrize(("engine", "source", "message"), RUN_ERRORS)
def test_run_errors_are_expression_errors(engine: str, source: str, message: str) -> None:
    expression = compile_expression(engine, source)
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(SCOPE)
    assert message in str(caught.value)


def test_a_bounded_power_of_two_is_exact() -> None:
    assert run("2 ^ 4095") == 2**4095
    assert run("(-2) ^ 4095") == -(2**4095)


def test_a_long_flat_sum_is_wide_not_deep() -> None:
    source = "1" + " + 1" * 2400
    assert run(source) == 2401


def test_expressions_are_immutable_and_describe_themselves() -> None:
    expression = compile_expression("math.js", "1 + 1")
    assert isinstance(expression, Expression)
    assert ENGINES == ("math.js", "formula.js", "string")
    with pytest.raises(AttributeError):
        expression.source = "2"  # type: ignore[misc]
    assert repr(expression) == "<Expression math.js '1 + 1'>"
    assert expression.evaluate(SCOPE) == expression.evaluate(SCOPE) == 2


def test_an_expression_must_be_text() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression("math.js", 12)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------
_VARS = [Var(text, compile_template(text)) for text in (
    "{{$context.body.n}}", "{{ $context.body.s }}", "{{$context.body.missing:dflt}}",
    "{{$context.body.nums}}")]
_CHAIN_OPS = {"or": ["or"], "and": ["and"], "add": ["+", "-"], "mul": ["*", "/", "%"]}


def _positive_float(x: float) -> bool:
    return math.copysign(1.0, x) > 0


def _literals() -> st.SearchStrategy[Node]:
    return st.one_of(
        st.integers(0, 10**30).map(Lit),
        st.floats(0, 1e300, allow_nan=False).filter(_positive_float).map(Lit),
        st.text(max_size=8).map(Lit),
        st.sampled_from([True, False, None]).map(Lit),
        st.sampled_from(_VARS),
        st.lists(st.one_of(st.text(min_size=1, max_size=4), st.sampled_from(_VARS)),
                 min_size=1, max_size=4).filter(
            lambda parts: any(isinstance(p, Var) for p in parts)).map(_interp),
    )


def _interp(parts: list[str | Var]) -> Interp:
    merged: list[str | Var] = []
    for part in parts:
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return Interp(tuple(merged))


def _trees(engine: str) -> st.SearchStrategy[Node]:
    library = LIBRARIES[engine]
    chain_ops = dict(_CHAIN_OPS, **({"cat": ["&"]} if library.concat_operator else {}))
    functions = sorted(library.functions.values(), key=lambda f: f.name)

    def extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        @st.composite
        def chain(draw: st.DrawFn) -> Node:
            ops = chain_ops[draw(st.sampled_from(sorted(chain_ops)))]
            rest = draw(st.lists(st.tuples(st.sampled_from(ops), inner), min_size=1, max_size=3))
            return Chain(draw(inner), tuple(rest))

        @st.composite
        def call(draw: st.DrawFn) -> Node:
            function = draw(st.sampled_from(functions))
            high = function.min_args + 3 if function.max_args is None else function.max_args
            count = draw(st.integers(function.min_args, high))
            if function.pairs and count % 2:
                count += 1
            args = tuple(draw(inner) for _ in range(count))
            return Call(function.name, args, function)

        return st.one_of(
            st.builds(Unary, st.sampled_from(["-", "+", "not"]), inner),
            st.builds(Binary, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "^"]), inner,
                      inner),
            st.builds(Cond, inner, inner, inner),
            st.lists(inner, max_size=3).map(lambda items: ListOf(tuple(items))),
            chain(), call(),
        )

    return st.recursive(_literals(), extend, max_leaves=12)


_TREES = {engine: _trees(engine) for engine in ("math.js", "formula.js")}


def _outcome(thunk: Any) -> Any:
    try:
        return ("value", repr(thunk()))
    except ExpressionError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("engine", ["math.js", "formula.js"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_printed_trees_parse_back_to_the_same_tree_and_value(engine: str,
                                                             data: st.DataObject) -> None:
    tree = data.draw(_TREES[engine])
    source = to_source(tree)
    parsed = parse(source, LIBRARIES[engine])
    assert repr(parsed) == repr(tree), source
    assert _outcome(lambda: evaluate_tree(tree, SCOPE)) == _outcome(
        lambda: compile_expression(engine, source).evaluate(SCOPE))


_SYNTAX = [*"0123456789+-*/%^()[],.?:!<>=&|'\"\\ {}$eE_",
           "{{$context.body.n}}", "{{$context.body.s}}", "and", "or", "not", "true", "null",
           "sum", "SUM", "IF", "REPT", "round", "pi", "x", "\n"]


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.lists(st.sampled_from(_SYNTAX), max_size=30).map(
    "".join)))
def test_random_text_only_ever_raises_expression_errors(engine: str, text: str) -> None:
    try:
        expression = compile_expression(engine, text)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(SCOPE)
