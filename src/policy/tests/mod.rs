//! Tests of the policy language.
