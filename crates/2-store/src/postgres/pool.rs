//! A small connection pool for tokio-postgres: at most `size` connections, opened on demand,
//! each with its own cache of prepared statements; a connection that broke is dropped instead
//! of being handed out again, and one given back in the middle of a transaction (an error or a
//! panic left it there) is closed rather than reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls, Statement};

use super::pg_err;
use crate::StoreError;

/// Open connections waiting to be used, and the permits that bound how many exist.
pub(super) struct Pool {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    target: String,
}

/// One connection and the statements prepared on it.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    in_transaction: bool,
}

/// A connection taken from the pool; it goes back when dropped (if it is still usable).
pub(super) struct Pooled {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// A pool of at most `size` connections to `config`; `target` names the database in errors.
    pub(super) fn new(config: tokio_postgres::Config, size: usize, target: String) -> Pool {
        Pool {
            config,
            idle: Mutex::default(),
            permits: Arc::new(Semaphore::new(size.max(1))),
            target,
        }
    }

    /// A connection: an idle one, or a new one when none is idle and the pool is not full.
    pub(super) async fn get(self: &Arc<Self>) -> Result<Pooled, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Db("the connection pool is closed".into()))?;
        let idle = loop {
            let next = self.idle.lock().ok().and_then(|mut v| v.pop());
            match next {
                Some(c) if c.client.is_closed() => continue,
                other => break other,
            }
        };
        let conn = match idle {
            Some(c) => c,
            None => self.connect().await?,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Conn, StoreError> {
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|e| StoreError::Connect {
                    target: self.target.clone(),
                    message: super::error_text(&e),
                })?;
        let target = self.target.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(store = %target, error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(Conn {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        })
    }
}

impl Pooled {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until it is dropped")
    }

    /// The client, for queries with ad-hoc statements.
    pub(super) fn client(&mut self) -> &Client {
        &self.conn().client
    }

    /// The statement for `sql`, prepared once per connection.
    pub(super) async fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        let conn = self.conn();
        if let Some(s) = conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = conn.client.prepare(sql).await.map_err(pg_err)?;
        conn.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Starts a transaction (read committed).
    pub(super) async fn begin(&mut self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.in_transaction = true;
        conn.client.batch_execute("BEGIN").await.map_err(pg_err)
    }

    /// Commits the open transaction.
    pub(super) async fn commit(&mut self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.client.batch_execute("COMMIT").await.map_err(pg_err)?;
        conn.in_transaction = false;
        Ok(())
    }

    /// Ends the open transaction by `result`: commits it on success, rolls it back and
    /// returns the error otherwise.
    pub(super) async fn finish(
        &mut self,
        result: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match result {
            Ok(()) => self.commit().await,
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// Rolls the open transaction back (after an error).
    pub(super) async fn rollback(&mut self) {
        let conn = self.conn();
        if conn.client.batch_execute("ROLLBACK").await.is_ok() {
            conn.in_transaction = false;
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if conn.in_transaction || conn.client.is_closed() || std::thread::panicking() {
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push(conn);
        }
    }
}
