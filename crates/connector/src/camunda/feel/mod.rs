//! FEEL, the expression language of Camunda's `resultExpression` and `errorExpression`
//! task headers, evaluated with the DecisionToolkit engine (`dsntk-feel-*`).
//!
//! The adapter handles what dsntk leaves to its host (see docs/camunda.md, "FEEL"):
//! - the leading `=` Camunda writes before every expression is stripped; left in, the engine
//!   would read a unary test and quietly answer something else;
//! - the parser only splits `response.body.id` into a path when its scope holds the nested
//!   variables, so every evaluation parses against a scope built from the actual variables;
//! - Camunda's functions (`bpmnError`, `jobError`, `ignoreError`) and the extensions
//!   processes use (`is defined`, `get or else`, `trim`, ...) are host functions, with
//!   optional trailing arguments padded in the parsed tree;
//! - the engine is shielded: a panic inside it becomes an evaluation error.
//!
//! Evaluation problems that FEEL defines as null (a missing variable, a function given the
//! wrong types) give null, as in Camunda's engine; only an expression that does not parse is
//! an error.

mod convert;
mod functions;

use std::panic::{catch_unwind, AssertUnwindSafe};

use dsntk_feel::FeelScope;
use serde_json::{Map, Value};

pub use convert::{to_feel, to_json};

/// An expression that cannot be evaluated: it does not parse, or the engine failed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeelError {
    /// What went wrong, naming the expression.
    pub message: String,
}

impl std::fmt::Display for FeelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The expression text without Camunda's leading `=` and surrounding blanks.
pub fn strip(expression: &str) -> &str {
    let t = expression.trim();
    t.strip_prefix('=').unwrap_or(t).trim()
}

/// Words that are FEEL syntax, never variable names.
const KEYWORDS: &[&str] = &[
    "if",
    "then",
    "else",
    "for",
    "in",
    "return",
    "some",
    "every",
    "satisfies",
    "and",
    "or",
    "not",
    "between",
    "instance",
    "of",
    "null",
    "true",
    "false",
    "function",
    "external",
];

/// Multi-word function names (FEEL's and ours): their words must stay unknown to the lexer,
/// or `upper case(x)` would no longer read as one name.
const MULTI_WORD_FUNCTIONS: &[&str] = &[
    "context merge",
    "context put",
    "date and time",
    "day of week",
    "day of year",
    "distinct values",
    "ends with",
    "finished by",
    "get entries",
    "get value",
    "index of",
    "insert before",
    "list contains",
    "list replace",
    "lower case",
    "met by",
    "month of year",
    "overlaps after",
    "overlaps before",
    "round down",
    "round half down",
    "round half up",
    "round up",
    "started by",
    "starts with",
    "string join",
    "string length",
    "substring after",
    "substring before",
    "upper case",
    "week of year",
    "years and months duration",
    "is defined",
    "get or else",
    "is empty",
    "is blank",
    "to json",
    "from json",
    "to base64",
    "from base64",
    "duplicate values",
];

/// The parsing scope: the variables plus a null placeholder for every other plain name the
/// expression uses. dsntk's lexer reads an unknown name followed by a keyword as one
/// multi-word name (`then missing else 2` does not parse), while FEEL says a missing variable
/// is simply null. Placeholders are only for parsing: evaluation still sees the name as missing,
/// so `is defined(missing)` stays false.
fn with_placeholders(ctx: &dsntk_feel::context::FeelContext, text: &str) -> dsntk_feel::context::FeelContext {
    let mut parse_ctx = ctx.clone();
    let mut chars = text.char_indices().peekable();
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        let name = dsntk_feel::Name::from(word.as_str());
        let starts_like_a_name = word.starts_with(|c: char| c.is_alphabetic() || c == '_');
        let in_function_name = MULTI_WORD_FUNCTIONS
            .iter()
            .any(|f| f.split(' ').any(|w| w == word.as_str()));
        if starts_like_a_name
            && !KEYWORDS.contains(&word.as_str())
            && !in_function_name
            && !parse_ctx.contains_entry(&name)
        {
            parse_ctx.set_entry(&name, dsntk_feel::values::Value::Null(None));
        }
        word.clear();
    };
    while let Some((_, c)) = chars.next() {
        if c == '"' {
            // Skip a string literal, escapes included.
            flush(&mut word);
            while let Some((_, s)) = chars.next() {
                if s == '\\' {
                    chars.next();
                } else if s == '"' {
                    break;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word);
        }
    }
    flush(&mut word);
    parse_ctx
}

/// Evaluates `expression` (with or without Camunda's leading `=`) against `variables`, the
/// top-level names of the scope. Returns the value as JSON.
pub fn evaluate(expression: &str, variables: &Map<String, Value>) -> Result<Value, FeelError> {
    let text = strip(expression);
    let mut ctx = convert::context_of(variables);
    functions::install(&mut ctx);
    let parse_scope = FeelScope::from(with_placeholders(&ctx, text));
    let scope = FeelScope::from(ctx);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut ast = dsntk_feel_parser::parse_expression(&parse_scope, text, false).map_err(|e| FeelError {
            message: format!("FEEL expression '{text}' does not parse: {e}"),
        })?;
        functions::pad_arguments(&mut ast);
        let evaluator = dsntk_feel_evaluator::prepare(&ast);
        Ok(convert::to_json(&evaluator(&scope)))
    }));
    outcome.unwrap_or_else(|_| {
        Err(FeelError {
            message: format!("the FEEL engine failed on expression '{text}'"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, vars: Value) -> Value {
        evaluate(expr, vars.as_object().expect("an object")).expect("evaluates")
    }

    #[test]
    fn paths_functions_and_padding() {
        let vars = json!({"response": {"body": {"id": 7}}, "error": {"code": "NoSuchKey", "message": "gone"}});
        assert_eq!(eval("=response.body.id + 1", vars.clone()), json!(8));
        assert_eq!(
            eval(
                r#"= if error.code = "NoSuchKey" then bpmnError("NOT_FOUND", error.message) else null"#,
                vars.clone()
            ),
            json!({"errorType": "bpmnError", "errorCode": "NOT_FOUND", "errorMessage": "gone", "variables": {}})
        );
        assert_eq!(
            eval(r#"jobError("failed")"#, vars.clone()),
            json!({"errorType": "jobError", "errorMessage": "failed", "variables": {}, "retries": 0, "retryBackoff": "PT0S"})
        );
        assert_eq!(eval(r#"number("42")"#, vars.clone()), json!(42));
        assert_eq!(eval("is defined(response.body.id)", vars.clone()), json!(true));
        assert_eq!(eval("is defined(nothing)", vars.clone()), json!(false));
        assert_eq!(eval("0.1 + 0.2 = 0.3", vars.clone()), json!(true));
        assert_eq!(
            eval(r#"now() > date and time("2020-01-01T00:00:00Z")"#, vars),
            json!(true)
        );
    }

    #[test]
    fn syntax_errors_are_errors_not_panics() {
        let err = evaluate("= 1 +", &Map::new()).expect_err("must not parse");
        assert!(err.message.contains("does not parse"), "{err}");
    }
}
