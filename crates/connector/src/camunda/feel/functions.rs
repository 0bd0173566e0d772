//! Functions Camunda's connector runtime adds to FEEL, and the extensions of Camunda's FEEL
//! engine that processes commonly use, as host functions for dsntk.
//!
//! dsntk has no host-function API, so each function is a FEEL function definition whose body
//! is a Rust closure reading its parameters from the scope. dsntk also insists on exact arity,
//! while Camunda's functions have optional trailing parameters; [`pad_arguments`] rewrites
//! calls in the parsed expression so that missing arguments arrive as null and each function
//! fills in Camunda's default.

use std::sync::Arc;

use base64::Engine;
use dsntk_feel::closure::Closure;
use dsntk_feel::context::FeelContext;
use dsntk_feel::values::Value as Feel;
use dsntk_feel::{Evaluator, FeelScope, FeelType, FunctionBody, Name};
use dsntk_feel_parser::AstNode;
use dsntk_feel_temporal::{FeelDateTime, FeelDaysAndTimeDuration};

use super::convert::{to_feel, to_json};

/// One host function: its FEEL name, its parameters (all optional after the required ones)
/// and its body.
struct Host {
    name: &'static str,
    params: &'static [&'static str],
    body: fn(&[Feel]) -> Feel,
}

const HOSTS: &[Host] = &[
    Host {
        name: "bpmnError",
        params: &["errorCode", "errorMessage", "variables"],
        body: bpmn_error,
    },
    Host {
        name: "jobError",
        params: &["errorMessage", "variables", "retries", "retryBackoff"],
        body: job_error,
    },
    Host {
        name: "ignoreError",
        params: &["variables"],
        body: ignore_error,
    },
    Host {
        name: "is defined",
        params: &["value"],
        body: is_defined,
    },
    Host {
        name: "get or else",
        params: &["value", "default"],
        body: get_or_else,
    },
    Host {
        name: "is empty",
        params: &["list"],
        body: is_empty,
    },
    Host {
        name: "is blank",
        params: &["string"],
        body: is_blank,
    },
    Host {
        name: "trim",
        params: &["string"],
        body: trim,
    },
    Host {
        name: "uuid",
        params: &[],
        body: uuid,
    },
    Host {
        name: "to json",
        params: &["value"],
        body: to_json_text,
    },
    Host {
        name: "from json",
        params: &["value"],
        body: from_json_text,
    },
    Host {
        name: "to base64",
        params: &["value"],
        body: to_base64,
    },
    Host {
        name: "from base64",
        params: &["value"],
        body: from_base64,
    },
    Host {
        name: "partition",
        params: &["list", "size"],
        body: partition,
    },
    Host {
        name: "duplicate values",
        params: &["list"],
        body: duplicate_values,
    },
    Host {
        name: "now",
        params: &[],
        body: now,
    },
];

/// Built-in functions whose trailing parameters Camunda's engine treats as optional but
/// dsntk requires: `number("42")` is `number("42", null, null)`.
const BUILTIN_ARITY: &[(&str, usize)] = &[("number", 3)];

/// Adds every host function to `ctx`, shadowing a built-in of the same name (`now`).
pub fn install(ctx: &mut FeelContext) {
    for host in HOSTS {
        ctx.set_entry(&Name::from(host.name), definition(host));
    }
}

fn definition(host: &'static Host) -> Feel {
    let names: Vec<Name> = host.params.iter().map(|p| Name::from(*p)).collect();
    let formal = names.iter().map(|n| (n.clone(), FeelType::Any)).collect();
    let evaluator: Evaluator = Box::new(move |scope: &FeelScope| {
        let args: Vec<Feel> = names
            .iter()
            .map(|n| scope.get_value(n).unwrap_or(Feel::Null(None)))
            .collect();
        (host.body)(&args)
    });
    Feel::FunctionDefinition(
        formal,
        FunctionBody::LiteralExpression(Arc::new(evaluator)),
        false,
        Closure::default(),
        FeelContext::default(),
        FeelType::Any,
    )
}

fn arity_of(name: &str) -> Option<(usize, &'static [&'static str])> {
    if let Some(host) = HOSTS.iter().find(|h| h.name == name) {
        return Some((host.params.len(), host.params));
    }
    BUILTIN_ARITY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| (*a, &[][..]))
}

/// Appends null arguments to calls of host functions (and of built-ins with optional
/// parameters) that leave trailing parameters out, positionally or by name.
pub fn pad_arguments(node: &mut AstNode) {
    let called = match node {
        AstNode::FunctionInvocation(function, _) => match function.as_ref() {
            AstNode::Name(name) => arity_of(&name.to_string()),
            _ => None,
        },
        _ => None,
    };
    if let (Some((arity, names)), AstNode::FunctionInvocation(_, params)) = (called, &mut *node) {
        match params.as_mut() {
            AstNode::PositionalParameters(args) => {
                while args.len() < arity {
                    args.push(AstNode::Null);
                }
            }
            AstNode::NamedParameters(args) => {
                for param in names {
                    let given = args.iter().any(|a| {
                        matches!(a, AstNode::NamedParameter(n, _)
                            if matches!(n.as_ref(), AstNode::ParameterName(p) if p.to_string() == *param))
                    });
                    if !given {
                        args.push(AstNode::NamedParameter(
                            Box::new(AstNode::ParameterName(Name::from(*param))),
                            Box::new(AstNode::Null),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for_each_child(node, pad_arguments);
}

/// Applies `f` to every direct child of `node`.
fn for_each_child(node: &mut AstNode, f: fn(&mut AstNode)) {
    use AstNode::*;
    match node {
        Add(a, b)
        | And(a, b)
        | ContextEntry(a, b)
        | ContextTypeEntry(a, b)
        | Div(a, b)
        | Eq(a, b)
        | Every(a, b)
        | Exp(a, b)
        | Filter(a, b)
        | For(a, b)
        | FormalParameter(a, b)
        | FunctionDefinition(a, b)
        | FunctionInvocation(a, b)
        | FunctionType(a, b)
        | Ge(a, b)
        | Gt(a, b)
        | In(a, b)
        | InstanceOf(a, b)
        | IterationContextSingle(a, b)
        | Le(a, b)
        | Lt(a, b)
        | Mul(a, b)
        | NamedParameter(a, b)
        | Nq(a, b)
        | Or(a, b)
        | Out(a, b)
        | Path(a, b)
        | QuantifiedContext(a, b)
        | Range(a, b)
        | Some(a, b)
        | Sub(a, b) => {
            f(a);
            f(b);
        }
        Between(a, b, c) | If(a, b, c) | IterationContextInterval(a, b, c) => {
            f(a);
            f(b);
            f(c);
        }
        CommaList(v)
        | Context(v)
        | ContextType(v)
        | ExpressionList(v)
        | FormalParameters(v)
        | IterationContexts(v)
        | List(v)
        | NamedParameters(v)
        | NegatedList(v)
        | ParameterTypes(v)
        | PositionalParameters(v)
        | QualifiedName(v)
        | QuantifiedContexts(v) => v.iter_mut().for_each(f),
        EvaluatedExpression(a)
        | FunctionBody(a, _)
        | IntervalEnd(a, _)
        | IntervalStart(a, _)
        | ListType(a)
        | Neg(a)
        | RangeType(a)
        | Satisfies(a)
        | UnaryGe(a)
        | UnaryGt(a)
        | UnaryLe(a)
        | UnaryLt(a)
        | UnaryEq(a)
        | UnaryNe(a) => f(a),
        At(_)
        | Boolean(_)
        | ContextEntryKey(_)
        | ContextTypeEntryKey(_)
        | FeelType(_)
        | Irrelevant
        | Name(_)
        | Null
        | Numeric(..)
        | ParameterName(_)
        | QualifiedNameSegment(_)
        | String(_) => {}
    }
}

fn context(entries: Vec<(&str, Feel)>) -> Feel {
    let mut ctx = FeelContext::default();
    for (k, v) in entries {
        ctx.set_entry(&Name::from(k), v);
    }
    Feel::Context(ctx)
}

fn is_null(v: &Feel) -> bool {
    matches!(v, Feel::Null(_))
}

fn or_empty_context(v: &Feel) -> Feel {
    if is_null(v) {
        Feel::Context(FeelContext::default())
    } else {
        v.clone()
    }
}

/// `bpmnError(code, message[, variables])`: the shape Camunda's runtime turns into a thrown
/// BPMN error.
fn bpmn_error(args: &[Feel]) -> Feel {
    context(vec![
        ("errorType", Feel::String("bpmnError".into())),
        ("errorCode", args[0].clone()),
        ("errorMessage", args[1].clone()),
        ("variables", or_empty_context(&args[2])),
    ])
}

/// `jobError(message[, variables[, retries[, retryBackoff]]])` with Camunda's defaults:
/// no variables, no retries left, no backoff.
fn job_error(args: &[Feel]) -> Feel {
    let retries = if is_null(&args[2]) {
        Feel::Number(0.into())
    } else {
        args[2].clone()
    };
    let backoff = if is_null(&args[3]) {
        Feel::DaysAndTimeDuration(FeelDaysAndTimeDuration::from_s(0))
    } else {
        args[3].clone()
    };
    context(vec![
        ("errorType", Feel::String("jobError".into())),
        ("errorMessage", args[0].clone()),
        ("variables", or_empty_context(&args[1])),
        ("retries", retries),
        ("retryBackoff", backoff),
    ])
}

/// `ignoreError([variables])`: complete the job with these variables instead of failing it.
fn ignore_error(args: &[Feel]) -> Feel {
    let mut entries = vec![("errorType", Feel::String("ignoreError".into()))];
    if !is_null(&args[0]) {
        entries.push(("variables", args[0].clone()));
    }
    context(entries)
}

/// True unless the value comes from a name or path that does not exist. dsntk marks such
/// nulls with a reason; a null written in the data has none.
fn is_defined(args: &[Feel]) -> Feel {
    Feel::Boolean(match &args[0] {
        Feel::Null(Some(reason)) => !(reason.contains("no value for key") || reason.contains("no entry")),
        _ => true,
    })
}

fn get_or_else(args: &[Feel]) -> Feel {
    if is_null(&args[0]) {
        args[1].clone()
    } else {
        args[0].clone()
    }
}

fn is_empty(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::List(items) => Feel::Boolean(items.is_empty()),
        other => Feel::Null(Some(format!("is empty: expected a list, got {other}"))),
    }
}

fn is_blank(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::String(s) => Feel::Boolean(s.trim().is_empty()),
        other => Feel::Null(Some(format!("is blank: expected a string, got {other}"))),
    }
}

fn trim(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::String(s) => Feel::String(s.trim().to_string()),
        other => Feel::Null(Some(format!("trim: expected a string, got {other}"))),
    }
}

fn uuid(_: &[Feel]) -> Feel {
    Feel::String(uuid::Uuid::new_v4().to_string())
}

fn to_json_text(args: &[Feel]) -> Feel {
    match serde_json::to_string(&to_json(&args[0])) {
        Ok(text) => Feel::String(text),
        Err(e) => Feel::Null(Some(format!("to json: {e}"))),
    }
}

fn from_json_text(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(v) => to_feel(&v),
            Err(e) => Feel::Null(Some(format!("from json: not valid JSON: {e}"))),
        },
        other => Feel::Null(Some(format!("from json: expected a string, got {other}"))),
    }
}

fn to_base64(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::String(s) => Feel::String(base64::engine::general_purpose::STANDARD.encode(s)),
        other => Feel::Null(Some(format!("to base64: expected a string, got {other}"))),
    }
}

fn from_base64(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::String(s) => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Feel::String(text),
                Err(_) => Feel::Null(Some("from base64: the decoded bytes are not UTF-8".into())),
            },
            Err(e) => Feel::Null(Some(format!("from base64: {e}"))),
        },
        other => Feel::Null(Some(format!("from base64: expected a string, got {other}"))),
    }
}

fn partition(args: &[Feel]) -> Feel {
    let size = match &args[1] {
        Feel::Number(n) => n.to_string().parse::<usize>().ok().filter(|s| *s > 0),
        _ => None,
    };
    match (&args[0], size) {
        (Feel::List(items), Some(size)) => Feel::List(items.chunks(size).map(|c| Feel::List(c.to_vec())).collect()),
        _ => Feel::Null(Some("partition: expected a list and a positive whole size".into())),
    }
}

fn duplicate_values(args: &[Feel]) -> Feel {
    match &args[0] {
        Feel::List(items) => {
            let mut dups: Vec<Feel> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) && !dups.contains(item) {
                    dups.push(item.clone());
                }
            }
            Feel::List(dups)
        }
        other => Feel::Null(Some(format!("duplicate values: expected a list, got {other}"))),
    }
}

/// `now()` in UTC with its offset. dsntk's own `now()` has no offset, so comparing it with a
/// zoned date-time from a process would be silently false.
fn now(_: &[Feel]) -> Feel {
    let now = time::OffsetDateTime::now_utc();
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    match FeelDateTime::try_from(text.as_str()) {
        Ok(dt) => Feel::DateTime(dt),
        Err(e) => Feel::Null(Some(format!("now: {e}"))),
    }
}
