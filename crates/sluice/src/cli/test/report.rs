//! What `sluice test` prints: a line per target and per case while running,
//! then every failure in Benthos's layout.

use std::path::PathBuf;

/// The outcome of one case.
pub(super) struct CaseResult {
    pub(super) name: String,
    pub(super) line: usize,
    /// Why it failed; empty when it passed.
    pub(super) failures: Vec<String>,
}

/// The outcome of one config's tests.
pub(super) struct TargetResult {
    pub(super) path: PathBuf,
    pub(super) lints: Vec<String>,
    pub(super) cases: Vec<CaseResult>,
}

impl TargetResult {
    fn passed(&self) -> bool {
        self.lints.is_empty() && self.cases.iter().all(|c| c.failures.is_empty())
    }
}

/// `Test 'config.yaml' succeeded`, then one line per case.
pub(super) fn print_target(result: &TargetResult) {
    let verdict = if result.passed() {
        "succeeded"
    } else {
        "failed"
    };
    println!("Test '{}' {verdict}", result.path.display());
    for case in &result.cases {
        let mark = if case.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        };
        println!("  {mark} {} [line {}]", case.name, case.line);
    }
}

/// Prints the failures section; true when there was nothing to print.
pub(super) fn print_failures(results: &[TargetResult]) -> bool {
    let failed: Vec<&TargetResult> = results.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() {
        return true;
    }
    println!("\nFailures:\n");
    for (idx, result) in failed.iter().enumerate() {
        if idx > 0 {
            println!();
        }
        println!("--- {} ---\n", result.path.display());
        for lint in &result.lints {
            println!("Lint: {lint}");
        }
        let mut first = true;
        for case in result.cases.iter().filter(|c| !c.failures.is_empty()) {
            if !first || !result.lints.is_empty() {
                println!();
            }
            first = false;
            println!("{} [line {}]:", case.name, case.line);
            for reason in &case.failures {
                println!("{reason}");
            }
        }
    }
    false
}
