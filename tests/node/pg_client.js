// node-postgres (the `pg` package, pinned by tests/it/pg_clients.rs) against
// `convlake serve --pg`, as JavaScript dashboards use it: the tables and views and a table's
// columns from information_schema, and a parameterised query.
//
//   node tests/node/pg_client.js CONNECTION_URI
//
// Prints one JSON object; exits 1 with the driver's error otherwise.
const { Client } = require("pg");

async function main() {
  const client = new Client({ connectionString: process.argv[2] });
  await client.connect();
  try {
    const relations = await client.query(
      "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      ["public"],
    );
    const columns = await client.query(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
      ["participants"],
    );
    const rows = await client.query(
      "SELECT conversation_id, purpose FROM participants WHERE purpose = $1 ORDER BY conversation_id",
      ["agent"],
    );
    const out = {
      tables: relations.rows.filter((r) => r.table_type !== "VIEW").map((r) => r.table_name),
      views: relations.rows.filter((r) => r.table_type === "VIEW").map((r) => r.table_name),
      columns: columns.rows.map((r) => r.column_name),
      rows: rows.rows.map((r) => `${r.conversation_id},${r.purpose}`).sort(),
    };
    console.log(JSON.stringify(out));
  } finally {
    await client.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
