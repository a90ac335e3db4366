//! Reading a delivered file in a confined child process (DESIGN 2.3, invariant 7).

/// The process limits of the child that reads one delivered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// Address space, in MiB.
    pub memory_mib: u64,
    /// CPU time, in seconds.
    pub cpu_secs: u64,
}

impl Default for Confinement {
    fn default() -> Self {
        Self {
            memory_mib: 512,
            cpu_secs: 300,
        }
    }
}
