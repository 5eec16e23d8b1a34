//! Wildcard patterns (`*` any run, `?` one character) and policy variables (`${key}`), as
//! Action, Resource and the String/Arn condition operators use them.
//!
//! A pattern is compiled once, at parse time, into tokens; variables are resolved against the
//! request's context at evaluation time (a key the context lacks, and no default, makes the
//! pattern unresolvable: the caller then treats its statement as not matching, as AWS does).

use super::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A literal character (`${*}`, `${?}` and `${$}` also produce literals).
    Char(char),
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `?`: exactly one character.
    One,
    /// `${key}` or `${key, 'default'}`; the key is lowercased (context keys are case-insensitive).
    Var { key: String, default: Option<String> },
}

/// What a pattern's text may contain besides literals.
#[derive(Debug, Clone, Copy)]
pub(super) struct Syntax {
    pub wildcards: bool,
    pub variables: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    pub(super) fn compile(text: &str, syntax: Syntax) -> Pattern {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if syntax.variables && c == '$' && chars.get(i + 1) == Some(&'{') {
                if let Some((token, next)) = variable(&chars, i + 2) {
                    tokens.push(token);
                    i = next;
                    continue;
                }
            }
            tokens.push(match c {
                '*' if syntax.wildcards => Token::Star,
                '?' if syntax.wildcards => Token::One,
                c => Token::Char(c),
            });
            i += 1;
        }
        Pattern { tokens }
    }

    pub(super) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The keys of the pattern's variables (lowercased).
    pub(super) fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match t {
            Token::Var { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// Whether the pattern is one fixed string (no wildcard, no variable).
    pub(super) fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Char(_)))
    }

    /// The pattern with its variables replaced by their values: only Char, Star and One remain.
    /// None when a variable's key is absent (or multi-valued) and has no default.
    pub(super) fn resolve(&self, context: &Context) -> Option<Vec<Token>> {
        let mut out = Vec::with_capacity(self.tokens.len());
        for token in &self.tokens {
            match token {
                Token::Var { key, default } => {
                    let value = match context.get(key) {
                        [one] => one.as_str(),
                        _ => default.as_deref()?,
                    };
                    out.extend(value.chars().map(Token::Char));
                }
                other => out.push(other.clone()),
            }
        }
        Some(out)
    }

    /// Whether `subject` matches; None when a variable cannot be resolved.
    pub(super) fn matches(&self, subject: &str, context: &Context) -> Option<bool> {
        let tokens = self.resolve(context)?;
        let subject: Vec<char> = subject.chars().collect();
        Some(glob(&tokens, &subject))
    }

    /// Whether the pattern could match `exact` itself (`prefix_only` false) or some string
    /// beginning with `exact` (`prefix_only` true), whatever its variables resolve to.
    /// Validation uses it: does a bucket policy's Resource name its bucket or its objects?
    pub(super) fn can_match(&self, exact: &str, prefix_only: bool) -> bool {
        // A variable may stand for anything: judge it as a `*`.
        let tokens: Vec<Token> = self
            .tokens
            .iter()
            .map(|t| match t {
                Token::Var { .. } => Token::Star,
                other => other.clone(),
            })
            .collect();
        // Simulate the pattern as a nondeterministic automaton: `states[p]` says the first p
        // tokens can have consumed the input read so far.
        let mut states = vec![false; tokens.len() + 1];
        states[0] = true;
        close_over_stars(&tokens, &mut states);
        for c in exact.chars() {
            let mut next = vec![false; tokens.len() + 1];
            for (p, token) in tokens.iter().enumerate() {
                if !states[p] {
                    continue;
                }
                match token {
                    Token::Star => next[p] = true,
                    Token::One => next[p + 1] = true,
                    Token::Char(t) if *t == c => next[p + 1] = true,
                    _ => {}
                }
            }
            close_over_stars(&tokens, &mut next);
            if !next.contains(&true) {
                return false;
            }
            states = next;
        }
        // Any remaining tokens can match some continuation (literals, one char, or nothing).
        if prefix_only {
            states.contains(&true)
        } else {
            states[tokens.len()]
        }
    }
}

/// A `*` may match nothing: a state before a star is also a state after it.
fn close_over_stars(tokens: &[Token], states: &mut [bool]) {
    for p in 0..tokens.len() {
        if states[p] && tokens[p] == Token::Star {
            states[p + 1] = true;
        }
    }
}

/// Parses a variable whose body starts at `start` (just after `${`): returns the token and the
/// index after the closing `}`. Not a variable (no `}`, an empty or odd key): None, and the
/// text stays literal, as AWS leaves it.
fn variable(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let close = start + chars[start..].iter().position(|&c| c == '}')?;
    let body: String = chars[start..close].iter().collect();
    let token = match body.as_str() {
        "*" => Token::Char('*'),
        "?" => Token::Char('?'),
        "$" => Token::Char('$'),
        _ => {
            let (key, default) = match body.split_once(',') {
                Some((key, rest)) => {
                    let rest = rest.trim();
                    let default = rest.strip_prefix('\'')?.strip_suffix('\'')?;
                    (key.trim(), Some(default.to_string()))
                }
                None => (body.trim(), None),
            };
            let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || ":/-_.".contains(c));
            if !valid {
                return None;
            }
            Token::Var { key: key.to_lowercase(), default }
        }
    };
    Some((token, close + 1))
}

/// Matches resolved tokens (Char, Star, One) against a subject: greedy with backtracking to the
/// last star, linear in practice and without recursion.
pub(super) fn glob(tokens: &[Token], subject: &[char]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while s < subject.len() {
        match tokens.get(p) {
            Some(Token::Star) => {
                last_star = Some((p, s));
                p += 1;
                continue;
            }
            Some(Token::One) => {
                p += 1;
                s += 1;
                continue;
            }
            Some(Token::Char(c)) if *c == subject[s] => {
                p += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match last_star {
            Some((star, from)) => {
                p = star + 1;
                s = from + 1;
                last_star = Some((star, from + 1));
            }
            None => return false,
        }
    }
    tokens[p.min(tokens.len())..].iter().all(|t| *t == Token::Star)
}

/// Lowercases resolved tokens (for case-insensitive comparisons).
pub(super) fn lowercase(tokens: &[Token]) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        match token {
            Token::Char(c) => out.extend(c.to_lowercase().map(Token::Char)),
            other => out.push(other.clone()),
        }
    }
    out
}
