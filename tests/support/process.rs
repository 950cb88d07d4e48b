//! An example program running as a child process, its stdout and stderr collected line by
//! line as they come.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Lines = Arc<Mutex<Vec<String>>>;

/// A child process whose output is being collected.
pub struct Running {
    name: String,
    child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

fn collect(pipe: impl Read + Send + 'static, into: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl Running {
    /// Starts the example `name` (built by cargo) with `args`.
    pub fn spawn(name: &str, args: &[&str]) -> Running {
        let mut command = Command::new(super::example_bin(name));
        command.args(args);
        Running::spawn_command(name, command)
    }

    /// Starts `command` (any program, e.g. a Python script), called `name` in messages.
    pub fn spawn_command(name: &str, mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let (stdout, stderr) = (Lines::default(), Lines::default());
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Running {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits until a stderr line contains `needle` and returns it; panics (with the output so
    /// far) if the program exits or `timeout` passes first.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{} printed no line with {needle:?} ({}); stderr:\n{}",
                self.name,
                exited.map_or("timed out".into(), |s| format!("exited: {s}")),
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the program has printed `n` lines on stdout; panics (with its stderr) if
    /// it exits or `timeout` passes first.
    pub fn wait_for_stdout_lines(&mut self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.stdout.lock().unwrap().len() < n {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{} printed {} of {n} lines ({}); stdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout.lock().unwrap().len(),
                exited.map_or("timed out".into(), |s| format!("exited: {s}")),
                self.stdout.lock().unwrap().join("\n"),
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped before `finish`.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Waits (at most `timeout`) for the process to exit: its status, stdout and stderr lines.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, Vec<String>, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let out = std::mem::take(&mut *self.stdout.lock().unwrap());
        let err = std::mem::take(&mut *self.stderr.lock().unwrap());
        (status, out, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
