//! The only place that runs `tc`: one `tc -force -batch -` process per script.

use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{teardown_script, Plan};

/// Why a shaping script did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ShapingError {
    /// The `tc` program could not be started (not installed: apt-get install iproute2).
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Talking to the running `tc` failed (its stdin or its exit).
    #[error("talking to {program}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// `tc` ran and some lines of the batch failed. With `-force` the other
    /// lines were still applied; `stderr` names the failed lines (`Command failed -:N`).
    #[error("tc batch failed ({status}): {stderr}")]
    Failed { status: ExitStatus, stderr: String },
}

/// Runs scripts through ONE `tc -force -batch -` process each (the script on
/// its stdin), never one process per class: 2 × 1024 slots are one spawn.
#[derive(Debug, Clone, Default)]
pub struct Tc {
    /// Another `tc` binary, e.g. for tests; `None` uses `tc` from PATH.
    pub program: Option<String>,
}

impl Tc {
    /// Runs `script` as one batch. `-force` goes on past a failed line, so one
    /// bad slot does not leave the others unchanged; the failure is still an Err.
    #[tracing::instrument(skip_all, fields(lines = script.lines().count()))]
    pub async fn run(&self, script: &str) -> Result<(), ShapingError> {
        let program = self.program.as_deref().unwrap_or("tc").to_owned();
        let mut child = Command::new(&program)
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ShapingError::Spawn {
                program: program.clone(),
                source,
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = script.to_owned();
        // Written while stderr is read, so a batch with many errors cannot
        // block tc on a full stderr pipe while we block on its full stdin.
        let writer = tokio::spawn(async move {
            stdin.write_all(input.as_bytes()).await?;
            stdin.shutdown().await
        });
        let output = child
            .wait_with_output()
            .await
            .map_err(|source| ShapingError::Io {
                program: program.clone(),
                source,
            })?;
        let written = writer
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            return Err(ShapingError::Failed {
                status: output.status,
                stderr,
            });
        }
        // tc exiting 0 before reading everything would be a tc bug; still, say so.
        written.map_err(|source| ShapingError::Io { program, source })?;
        tracing::debug!("tc batch applied");
        Ok(())
    }

    /// Removes our root qdiscs from both interfaces ([`teardown_script`]), in
    /// one process. Not an error when there is nothing of ours: a root that is
    /// someone else's or the default one ("Invalid handle", or "Cannot delete
    /// qdisc with handle of zero" on older kernels), or an interface that is gone.
    pub async fn teardown(&self, plan: &Plan) -> Result<(), ShapingError> {
        match self.run(&teardown_script(plan)).await {
            Err(ShapingError::Failed { stderr, .. }) if only_nothing_there(&stderr) => Ok(()),
            other => other,
        }
    }
}

/// Is every error in `stderr` one that means "no qdisc of ours on this interface"?
fn only_nothing_there(stderr: &str) -> bool {
    const NOTHING_THERE: [&str; 4] = [
        "Error: Invalid handle.",
        "Cannot delete qdisc with handle of zero",
        "Cannot find device",
        "Command failed -:",
    ];
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .all(|l| NOTHING_THERE.iter().any(|ok| l.contains(ok)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_there_is_recognised() {
        assert!(only_nothing_there("Error: Invalid handle.\nCommand failed -:1\nCannot find device \"wan9\"\nCommand failed -:2"));
        assert!(!only_nothing_there("Error: Invalid handle.\nRTNETLINK answers: Operation not permitted\nCommand failed -:2"));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let tc = Tc {
            program: Some("/nonexistent/tc".into()),
        };
        assert!(matches!(
            tc.run("qdisc show\n").await,
            Err(ShapingError::Spawn { .. })
        ));
    }
}
