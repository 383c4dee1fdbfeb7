/*
 * test_json.c: the strict JSON reader. Every rejection class with its exact byte offset and
 * message, the limits on both sides of their edges, documents that must pass, and printing as a
 * fixed point of parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

typedef struct bad_case {
    const char *text;
    size_t len;
    size_t off;
    const char *reason;
} bad_case;

/* sizeof keeps embedded NUL bytes; split "\xc3" "a" where a hex escape meets a hex digit. */
/* clang-format off */
#define BAD(lit, off, reason) {lit, sizeof(lit) - 1, off, reason}
/* clang-format on */

static const bad_case bad_cases[] = {
    /* empty */
    BAD("", 0, "empty input"),
    BAD(" \t\r\n", 4, "empty input"),
    /* grammar: numbers */
    BAD("01", 1, "leading zero in number"),
    BAD("[-01]", 3, "leading zero in number"),
    BAD("00", 1, "leading zero in number"),
    BAD("+1", 0, "expected value"),
    BAD(".5", 0, "expected value"),
    BAD("[-.5]", 2, "expected digit"),
    BAD("1.", 2, "unexpected end of input"),
    BAD("[1.]", 3, "expected digit"),
    BAD("[1.e5]", 3, "expected digit"),
    BAD("1e", 2, "unexpected end of input"),
    BAD("[1e+]", 4, "expected digit"),
    BAD("-", 1, "unexpected end of input"),
    BAD("0x1F", 1, "unexpected data after value"),
    BAD("[0x1F]", 2, "expected ',' or ']'"),
    BAD("NaN", 0, "expected value"),
    BAD("Infinity", 0, "expected value"),
    BAD("-Infinity", 1, "expected digit"),
    BAD("[1,-nan]", 4, "expected digit"),
    /* grammar: literals, quotes, comments, commas */
    BAD("tru", 3, "unexpected end of input"),
    BAD("trux", 3, "invalid literal"),
    BAD("True", 0, "expected value"),
    BAD("nulll", 4, "unexpected data after value"),
    BAD("'a'", 0, "expected value"),
    BAD("{'a':1}", 1, "expected string key"),
    BAD("/* c */ 1", 0, "expected value"),
    BAD("1 // c", 2, "unexpected data after value"),
    BAD("[1,]", 3, "expected value"),
    BAD("[1,,2]", 3, "expected value"),
    BAD("[,1]", 1, "expected value"),
    BAD("{\"a\":1,}", 7, "expected string key"),
    BAD("{,}", 1, "expected string key"),
    BAD("{1:2}", 1, "expected string key"),
    BAD("{\"a\" 1}", 5, "expected ':'"),
    BAD("{\"a\":}", 5, "expected value"),
    BAD("[1 2]", 3, "expected ',' or ']'"),
    BAD("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"),
    BAD("[1}", 2, "expected ',' or ']'"),
    BAD("{\"a\":1]", 6, "expected ',' or '}'"),
    BAD("[", 1, "unexpected end of input"),
    BAD("{\"a\":[1,2", 9, "unexpected end of input"),
    /* trailing data, whitespace that is not JSON whitespace */
    BAD("1 2", 2, "unexpected data after value"),
    BAD("{} x", 3, "unexpected data after value"),
    BAD("[1]\0", 3, "unexpected data after value"),
    BAD("\f1", 0, "expected value"),
    BAD("[1]\v", 3, "unexpected data after value"),
    BAD("\xef\xbb\xbf{}", 0, "expected value"), /* a BOM is not whitespace */
    /* strings: control characters, escapes */
    BAD("\"abc", 4, "unexpected end of input"),
    BAD("\"a\x01\"", 2, "control character in string"),
    BAD("\"a\0b\"", 2, "control character in string"),
    BAD("\"tab\there\"", 4, "control character in string"),
    BAD("[\"a\nb\"]", 3, "control character in string"),
    BAD("\"\\x\"", 1, "invalid escape"),
    BAD("\"ab\\'\"", 3, "invalid escape"),
    BAD("\"\\U0041\"", 1, "invalid escape"),
    BAD("\"\\u12G4\"", 1, "invalid \\u escape"),
    BAD("\"x\\u12\"", 2, "invalid \\u escape"),
    BAD("\"\\", 2, "unexpected end of input"),
    BAD("\"\\u00", 5, "unexpected end of input"),
    /* \u0000 and surrogate escapes */
    BAD("\"\\u0000\"", 1, "\\u0000 not allowed"),
    BAD("{\"k\\u0000\":1}", 3, "\\u0000 not allowed"),
    BAD("\"\\ud800\"", 1, "unpaired surrogate escape"),
    BAD("\"\\udc00\"", 1, "unpaired surrogate escape"),
    BAD("\"\\udc00\\ud800\"", 1, "unpaired surrogate escape"),
    BAD("\"x\\ud800\\u0041\"", 2, "unpaired surrogate escape"),
    BAD("\"\\ud800\\ud800\"", 1, "unpaired surrogate escape"),
    BAD("\"\\uDBFFx\"", 1, "unpaired surrogate escape"),
    BAD("\"\\ud800\\n\"", 1, "unpaired surrogate escape"),
    BAD("\"\\ud83d\\ude00\\ude00\"", 13, "unpaired surrogate escape"),
    BAD("\"\\ud800", 7, "unexpected end of input"),
    BAD("\"\\ud800\\udc", 11, "unexpected end of input"),
    /* invalid UTF-8, reported at the first byte of the sequence */
    BAD("\"\xc0\x80\"", 1, "invalid UTF-8"),         /* overlong NUL */
    BAD("\"\xc1\xbf\"", 1, "invalid UTF-8"),         /* overlong 2-byte */
    BAD("\"\xe0\x80\xaf\"", 1, "invalid UTF-8"),     /* overlong 3-byte */
    BAD("\"\xf0\x8f\xbf\xbf\"", 1, "invalid UTF-8"), /* overlong 4-byte */
    BAD("\"ab\xed\xa0\x80\"", 3, "invalid UTF-8"),   /* U+D800 encoded */
    BAD("\"\xed\xbf\xbf\"", 1, "invalid UTF-8"),     /* U+DFFF encoded */
    BAD("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"), /* U+110000 */
    BAD("\"\xf5\x80\x80\x80\"", 1, "invalid UTF-8"), /* F5 lead */
    BAD("\"\xff\"", 1, "invalid UTF-8"),
    BAD("\"\x80\"", 1, "invalid UTF-8"),          /* stray continuation */
    BAD("\"\xc3\xa9\xa9\"", 3, "invalid UTF-8"),  /* one continuation too many */
    BAD("\"\xc3\"", 1, "invalid UTF-8"),          /* truncated 2-byte */
    BAD("\"\xe2\x82\"", 1, "invalid UTF-8"),      /* truncated 3-byte */
    BAD("\"\xf0\x9f\x98 \"", 1, "invalid UTF-8"), /* truncated 4-byte */
    BAD("{\"k\xe2\x82"
        "a\":1}",
        3, "invalid UTF-8"),                         /* in a key */
    BAD("\"\xe2\x82", 3, "unexpected end of input"), /* cut by the end of input */
    BAD("[\"ok\",\xc3\xa9]", 6, "expected value"),   /* outside a string */
    /* integers beyond 2^53, numbers beyond a double */
    BAD("9007199254740993", 0, "integer beyond 2^53"),
    BAD("[-9007199254740993]", 1, "integer beyond 2^53"),
    BAD("[1, 10000000000000000]", 4, "integer beyond 2^53"),
    BAD("18446744073709551616", 0, "integer beyond 2^53"),
    BAD("1e400", 0, "number out of range"),
    BAD("[-1.8e308]", 1, "number out of range"),
    BAD("1.7976931348623159e308", 0, "number out of range"),
    BAD("0.00000000000000000001e329", 0, "number out of range"),
    BAD("1E+0000000000000000000000000000000000000000400", 0, "number out of range"),
    /* nesting: see also test_depth_limit */
    BAD("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 32, "nesting too deep"),
    /* duplicate keys, compared after unescaping; the second occurrence is reported */
    BAD("{\"a\":1,\"a\":2}", 7, "duplicate key"),
    BAD("{\"a\":1,\"\\u0061\":2}", 7, "duplicate key"),
    BAD("{\"\\u00e9\":1,\"\xc3\xa9\":2}", 12, "duplicate key"),
    BAD("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", 18, "duplicate key"),
    BAD("{\"a/b\":1,\"a\\/b\":2}", 9, "duplicate key"),
    BAD("{\"\\n\":1,\"\\u000A\":2}", 8, "duplicate key"),
    BAD("{\"\":1,\"\":2}", 6, "duplicate key"),
    BAD("{\"a\":1,\"b\":2,\"a\":3,\"b\":4}", 13, "duplicate key"),
    BAD("{\"b\":1,\"a\":2,\"b\":3,\"a\":4,\"a\":5}", 13, "duplicate key"),
    BAD("{\"x\":{\"b\":1,\"b\":2}}", 12, "duplicate key"),
    BAD("[{\"a\":1},{\"a\":1,\"a\":1}]", 16, "duplicate key"),
    /* a duplicate comes before later errors, also those in nested objects */
    BAD("{\"a\":1,\"a\":2,x}", 7, "duplicate key"),
    BAD("{\"a\":1,\"a\":2", 7, "duplicate key"),
    BAD("{\"a\":1,\"a\"", 7, "duplicate key"),
    BAD("{\"a\":1,\"a\":{\"b\":1,\"b\":2}}", 7, "duplicate key"),
    BAD("{\"a\":1,\"a\":[1e400]}", 7, "duplicate key"),
    /* ... but not before earlier ones */
    BAD("{\"a\":01,\"a\":2}", 6, "leading zero in number"),
};

static cJSON not_touched; /* *out is set to this before each call, to see it cleared */

static void test_reject_table(void **state)
{
    size_t i, failures = 0;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *c = &bad_cases[i];
        cJSON *out = &not_touched;
        size_t off = 12345;
        char want[CU_ERR_MSG];
        cu_err err;
        cu_rc rc;

        memset(&err, 0, sizeof(err));
        snprintf(want, sizeof(want), "invalid JSON at byte %zu: %s", c->off, c->reason);
        rc = cu_json_parse(c->text, c->len, &out, &off, &err);
        if (rc != CU_ERR_INVALID || out != NULL || err.code != CU_ERR_INVALID || off != c->off ||
            strcmp(err.msg, want) != 0) {
            print_error("case %zu: rc %d off %zu msg \"%s\", want off %zu msg \"%s\"\n", i, (int)rc,
                        off, err.msg, c->off, want);
            failures++;
        }
        if (out != NULL && out != &not_touched)
            cJSON_Delete(out);
    }
    print_message("%zu rejection cases\n", i);
    assert_int_equal(failures, 0);
}

/* Returns a malloc'd document nested n deep, alternating arrays and objects. */
static char *nest(size_t n, int objects_too)
{
    size_t i, cap = n * 6 + 2, o = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    for (i = 0; i < n; i++) {
        if (objects_too && i % 2 == 1) {
            memcpy(s + o, "{\"k\":", 5);
            o += 5;
        } else {
            s[o++] = '[';
        }
    }
    s[o++] = '0';
    for (i = n; i-- > 0;)
        s[o++] = objects_too && i % 2 == 1 ? '}' : ']';
    s[o] = '\0';
    return s;
}

static void expect_ok(const char *text, size_t len)
{
    cJSON *out = NULL;
    size_t off = 7;
    cu_err err;

    memset(&err, 0, sizeof(err));
    if (cu_json_parse(text, len, &out, &off, &err) != CU_OK)
        fail_msg("refused: %s", err.msg);
    assert_non_null(out);
    cJSON_Delete(out);
}

static void expect_bad(const char *text, size_t len, size_t want_off, const char *reason)
{
    cJSON *out = &not_touched;
    size_t off = 0;
    cu_err err;

    memset(&err, 0, sizeof(err));
    assert_int_equal(cu_json_parse(text, len, &out, &off, &err), CU_ERR_INVALID);
    assert_null(out);
    assert_int_equal(err.code, CU_ERR_INVALID);
    assert_int_equal(off, want_off);
    assert_non_null(strstr(err.msg, reason));
}

static void test_depth_limit(void **state)
{
    char *s;

    (void)state;
    s = nest(CU_JSON_MAX_DEPTH, 0);
    expect_ok(s, strlen(s));
    free(s);
    s = nest(CU_JSON_MAX_DEPTH, 1);
    expect_ok(s, strlen(s));
    free(s);
    s = nest(CU_JSON_MAX_DEPTH + 1, 0);
    expect_bad(s, strlen(s), CU_JSON_MAX_DEPTH, "nesting too deep");
    free(s);
    /* 16 arrays and 16 {"k": openers come before the 33rd level, an array. */
    s = nest(CU_JSON_MAX_DEPTH + 1, 1);
    expect_bad(s, strlen(s), 16 * 1 + 16 * 5, "nesting too deep");
    free(s);
    /* Depth is nesting, not a count of containers: siblings at depth 32 are fine. */
    s = nest(CU_JSON_MAX_DEPTH - 1, 0);
    {
        size_t n = strlen(s), o = 0;
        char *two = malloc(2 * n + 4);
        assert_non_null(two);
        two[o++] = '[';
        memcpy(two + o, s, n);
        o += n;
        two[o++] = ',';
        memcpy(two + o, s, n);
        o += n;
        two[o++] = ']';
        expect_ok(two, o);
        free(two);
    }
    free(s);
}

static void test_accept_top_level(void **state)
{
    static const char *const ok[] = {
        "true",
        "false",
        "null",
        "0",
        "-0",
        "42",
        "\"s\"",
        "[]",
        "{}",
        " \t\r\n[ ]\n ",
        "{ \"a\" : [ 1 , { } , [ ] ] }",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "[\"\x7f\"]",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect_ok(ok[i], strlen(ok[i]));
}

static double parse_number(const char *text)
{
    cJSON *out = NULL;
    double d;

    assert_int_equal(cu_json_parse(text, strlen(text), &out, NULL, NULL), CU_OK);
    assert_true(cJSON_IsNumber(out));
    d = out->valuedouble;
    cJSON_Delete(out);
    return d;
}

static void test_accept_numbers(void **state)
{
    static const char t_minus_1[] = "17976931348623158079372897140530341507993413271003782693617377"
                                    "898044496829276475094664901797"
                                    "75872070963302864166928879109465555478519404026306574886715058"
                                    "206819089020007083836762738548"
                                    "45817711531764475730270069855571366959622842914819860834936475"
                                    "292719074168444365510704342711"
                                    "559699508093042880177904174497791.0";

    (void)state;
    assert_true(parse_number("9007199254740992") == 9007199254740992.0);
    assert_true(parse_number("-9007199254740992") == -9007199254740992.0);
    assert_true(parse_number("9007199254740991") == 9007199254740991.0);
    assert_true(parse_number("1e308") == 1e308);
    assert_true(parse_number("-1e308") == -1e308);
    assert_true(parse_number("1.5e-300") == 1.5e-300);
    assert_true(parse_number("1.7976931348623157e308") == DBL_MAX);
    assert_true(parse_number("1.7976931348623158e308") == DBL_MAX); /* rounds down */
    assert_true(parse_number(t_minus_1) == DBL_MAX);                /* threshold - 1 */
    assert_true(parse_number("0.000000000000000000001e329") == 1e308);
    assert_true(parse_number("1e-400") == 0.0); /* underflow is not refused */
    assert_true(parse_number("1E+2") == 100.0);
    assert_true(parse_number("0.5") == 0.5);
    assert_true(parse_number("-0.0e0") == 0.0);
    assert_true(parse_number("1e20") == 1e20); /* exponent form: not an integer literal */
    assert_true(parse_number("123456789012345678.5") == 123456789012345678.5);
    /* No length limit of its own: 100 significant digits. */
    assert_true(parse_number("1.000000000000000000000000000000000000000000000000000000000000000000"
                             "0000000000000000000000000000000001") == 1.0);
    /* The threshold itself overflows. */
    {
        char t[sizeof(t_minus_1)];
        memcpy(t, t_minus_1, sizeof(t));
        t[sizeof(t) - 4] = '2';
        expect_bad(t, strlen(t), 0, "number out of range");
    }
}

static const char *parse_string(const char *text, cJSON **keep)
{
    assert_int_equal(cu_json_parse(text, strlen(text), keep, NULL, NULL), CU_OK);
    assert_true(cJSON_IsString(*keep));
    return (*keep)->valuestring;
}

static void test_accept_unicode(void **state)
{
    cJSON *j = NULL;

    (void)state;
    assert_string_equal(parse_string("\"\\u00e9\\u20AC\"", &j), "\xc3\xa9\xe2\x82\xac");
    cJSON_Delete(j);
    assert_string_equal(parse_string("\"\\ud83d\\ude00\"", &j), "\xf0\x9f\x98\x80");
    cJSON_Delete(j);
    assert_string_equal(parse_string("\"\\uD83D\\uDE00x\"", &j), "\xf0\x9f\x98\x80x");
    cJSON_Delete(j);
    assert_string_equal(parse_string("\"\\udbff\\udfff\"", &j), "\xf4\x8f\xbf\xbf");
    cJSON_Delete(j);
    assert_string_equal(parse_string("\"\\ud7ff\\ue000\\uffff\"", &j),
                        "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf");
    cJSON_Delete(j);
    assert_string_equal(parse_string("\"\\u0001\"", &j), "\x01");
    cJSON_Delete(j);
    /* Raw UTF-8 at the edges of table 3-7. */
    assert_string_equal(parse_string("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
                                     "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"",
                                     &j),
                        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80"
                        "\xf4\x8f\xbf\xbf");
    cJSON_Delete(j);
}

static void test_not_nul_terminated(void **state)
{
    static const char buf[] = "[1]garbage";
    char *heap;
    cJSON *j = NULL;

    (void)state;
    assert_int_equal(cu_json_parse(buf, 3, &j, NULL, NULL), CU_OK);
    cJSON_Delete(j);
    /* A number cut by len, in a heap block of exactly len bytes (ASan checks the edge). */
    heap = malloc(4);
    assert_non_null(heap);
    memcpy(heap, "1234", 4);
    assert_int_equal(cu_json_parse(heap, 2, &j, NULL, NULL), CU_OK);
    assert_true(j->valuedouble == 12.0);
    cJSON_Delete(j);
    assert_int_equal(cu_json_parse(heap, 4, &j, NULL, NULL), CU_OK);
    assert_true(j->valuedouble == 1234.0);
    cJSON_Delete(j);
    memcpy(heap, "\"ab\"", 4);
    assert_int_equal(cu_json_parse(heap, 4, &j, NULL, NULL), CU_OK);
    assert_string_equal(j->valuestring, "ab");
    cJSON_Delete(j);
    free(heap);
}

static void test_keys_scoped_per_object(void **state)
{
    static const char *const ok[] = {
        "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}",
        "{\"o\":{\"k\":1},\"k\":2}",
        "[{\"a\":1},{\"a\":1}]",
        "{\"A\":1,\"a\":2,\"\\u00e9\":3,\"e\\u0301\":4,\"\":5}",
        "{\"ab\":1,\"a\":2,\"b\":3,\"ba\":4}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect_ok(ok[i], strlen(ok[i]));
}

/* 100k distinct keys, then the same with one duplicate at the end. No clock is asserted: a
 * generous watchdog (SIGALRM ends the process after 60 s) stops a quadratic check, 5e9
 * comparisons, while the O(k log k) one takes a fraction of a second even under ASan. */
static void test_many_keys_fast(void **state)
{
    enum { N = 100000 };
    size_t cap = (size_t)N * 24 + 64, o = 0, last;
    char *s = malloc(cap);
    cJSON *j = NULL;
    int i;

    (void)state;
    assert_non_null(s);
    s[o++] = '{';
    for (i = 0; i < N; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s\"key%d\":%d", i ? "," : "", i, i);
    s[o++] = '}';
    alarm(60);
    assert_int_equal(cu_json_parse(s, o, &j, NULL, NULL), CU_OK);
    assert_int_equal(cJSON_GetArraySize(j), N);
    cJSON_Delete(j);

    o--; /* replace the closing brace with a repeated key */
    last = o + 1;
    o += (size_t)snprintf(s + o, cap - o, ",\"key%d\":0}", N / 2);
    expect_bad(s, o, last, "duplicate key");
    alarm(0);
    free(s);
}

static void test_failure_contract(void **state)
{
    cJSON *out = &not_touched;
    size_t off = 99;
    cu_err err;

    (void)state;
    memset(&err, 0, sizeof(err));
    assert_int_equal(cu_json_parse("[1,]", 4, &out, &off, &err), CU_ERR_INVALID);
    assert_null(out);
    assert_int_equal(off, 3);
    assert_int_equal(err.code, CU_ERR_INVALID);
    assert_string_equal(err.msg, "invalid JSON at byte 3: expected value");
    /* offset and err are optional */
    out = &not_touched;
    assert_int_equal(cu_json_parse("{\"a\":1,\"a\":1}", 13, &out, NULL, NULL), CU_ERR_INVALID);
    assert_null(out);
    /* NULL text is empty input */
    out = &not_touched;
    assert_int_equal(cu_json_parse(NULL, 0, &out, &off, &err), CU_ERR_INVALID);
    assert_null(out);
    assert_int_equal(off, 0);
    assert_string_equal(err.msg, "invalid JSON at byte 0: empty input");
    /* success clears the offset */
    off = 99;
    assert_int_equal(cu_json_parse("1", 1, &out, &off, &err), CU_OK);
    assert_int_equal(off, 0);
    cJSON_Delete(out);
}

/* print(parse(text)) must equal want and be a fixed point of parse then print. */
static void expect_print(const char *text, const char *want)
{
    cJSON *a = NULL, *b = NULL;
    char *p1, *p2;

    assert_int_equal(cu_json_parse(text, strlen(text), &a, NULL, NULL), CU_OK);
    p1 = cu_json_print(a);
    assert_non_null(p1);
    assert_string_equal(p1, want);
    assert_int_equal(cu_json_parse(p1, strlen(p1), &b, NULL, NULL), CU_OK);
    p2 = cu_json_print(b);
    assert_non_null(p2);
    assert_string_equal(p1, p2);
    free(p2);
    free(p1);
    cJSON_Delete(b);
    cJSON_Delete(a);
}

static void test_print(void **state)
{
    cJSON *n;
    char *p;

    (void)state;
    expect_print(" { \"a\" : [ 1 , true , null , \"\\u00e9\\n\" ] } ",
                 "{\"a\":[1,true,null,\"\xc3\xa9\\n\"]}");
    expect_print("[9007199254740992,-1.5,1e308,1.5e-300]",
                 "[9.00719925474099e+15,-1.5,1e+308,1.5e-300]");
    /* cJSON alone prints these as 12345678901234568 (beyond 2^53) and 1.79769313486232e+308
     * (overflows): cu_json_print writes them in a form that reads back. */
    expect_print("[1.2345678901234568e16]", "[1.2345678901234568e+16]");
    expect_print("[-1.7976931348623157e308]", "[-1.7976931348623157e+308]");
    expect_print("{\"x\":{\"y\":[5e-324]}}", "{\"x\":{\"y\":[4.94065645841247e-324]}}");
    /* a tree built by a caller, with a number beyond 2^53 */
    n = cJSON_CreateNumber(1152921504606846976.0); /* 2^60 */
    assert_non_null(n);
    p = cu_json_print(n);
    assert_non_null(p);
    assert_string_equal(p, "1.152921504606847e+18");
    free(p);
    cJSON_Delete(n);
    assert_null(cu_json_print(NULL));
}

/* cu_json_members: an object's members as spans of its text, in order, whatever the values hold
 * (brackets and quotes inside strings, nesting, spaces), more than its first allocation holds;
 * -1 for anything but one object. */
static void test_members(void **state)
{
    static const char text[] = " { \"a\" : [1,{\"]\":\"}\"}] , \"b\\\"c\":\"x\\\\\",\"d\":-1.5e3,"
                               "\"e\":{},\"f\":true } ";
    static const char *const keys[] = {"\"a\"", "\"b\\\"c\"", "\"d\"", "\"e\"", "\"f\""};
    static const char *const vals[] = {"[1,{\"]\":\"}\"}]", "\"x\\\\\"", "-1.5e3", "{}", "true"};
    static const char *const bad[] = {
        "",          "[]",       "{",          "{\"a\":1",   "{\"a\":1,}", "{\"a\" 1}",
        "{a:1}",     "{\"a\":}", "{\"a\":[1}", "{\"a\":\"x}", "{}x",       "{\"a\":{]}",
        "{\"a\":1 2}", "{} {}",
    };
    cu_json_member *m;
    size_t n;

    (void)state;
    assert_int_equal(cu_json_members(text, strlen(text), &m, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m[i].key_len, strlen(keys[i]));
        assert_memory_equal(text + m[i].key, keys[i], m[i].key_len);
        assert_int_equal(m[i].val_len, strlen(vals[i]));
        assert_memory_equal(text + m[i].val, vals[i], m[i].val_len);
    }
    free(m);
    assert_int_equal(cu_json_members("{}", 2, &m, &n), 0);
    assert_int_equal(n, 0);
    free(m);
    {
        char many[40 * 8 + 3];
        size_t k = 0;
        many[k++] = '{';
        for (int i = 0; i < 40; i++)
            k += (size_t)snprintf(many + k, sizeof(many) - k, "%s\"%02d\":%d", i ? "," : "", i, i);
        many[k++] = '}';
        assert_int_equal(cu_json_members(many, k, &m, &n), 0);
        assert_int_equal(n, 40);
        assert_memory_equal(many + m[39].key, "\"39\"", 4);
        free(m);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cu_json_members(bad[i], strlen(bad[i]), &m, &n) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_null(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reject_table),           cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_accept_top_level),       cmocka_unit_test(test_accept_numbers),
        cmocka_unit_test(test_accept_unicode),         cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_keys_scoped_per_object), cmocka_unit_test(test_many_keys_fast),
        cmocka_unit_test(test_failure_contract),       cmocka_unit_test(test_print),
        cmocka_unit_test(test_members),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
