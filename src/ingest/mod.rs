//! Stage 1, files in: the SFTP server that takes uploads (`sftp`), the watcher that records
//! each complete file in the ledger as a delivery (`intake`), and the audit writer that async
//! code appends to (`auditor`).

pub(crate) mod auditor;
pub(crate) mod intake;
pub(crate) mod sftp;
