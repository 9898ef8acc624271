// pgjdbc (Debian's libpostgresql-jdbc-java) against `convlake serve --pg`, as DBeaver, Metabase
// and Tableau use it: DatabaseMetaData lists the tables and views and reads a table's columns,
// and a prepared statement with a parameter gives rows. Run with the JDK's single-file
// launcher by tests/it/pg_clients.rs:
//
//   java -cp /usr/share/java/postgresql.jar tests/java/PgJdbcClient.java JDBC_URL USER PASSWORD
//
// Prints one JSON object; exits 1 with the driver's error otherwise.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

public class PgJdbcClient {
    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static String list(List<String> items) {
        List<String> quoted = new ArrayList<>();
        for (String item : items) {
            quoted.add(quote(item));
        }
        return "[" + String.join(",", quoted) + "]";
    }

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData meta = conn.getMetaData();
            List<String> tables = new ArrayList<>();
            List<String> views = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    ("VIEW".equals(rs.getString("TABLE_TYPE")) ? views : tables).add(rs.getString("TABLE_NAME"));
                }
            }
            Collections.sort(tables);
            Collections.sort(views);
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, "public", "participants", "%")) {
                while (rs.next()) {
                    columns.add(rs.getString("COLUMN_NAME"));
                }
            }
            List<String> rows = new ArrayList<>();
            String sql = "SELECT conversation_id, purpose FROM participants WHERE purpose = ? ORDER BY conversation_id";
            try (PreparedStatement ps = conn.prepareStatement(sql)) {
                // Executed more than prepareThreshold (5) times: the driver then uses a named
                // server-side statement, as long-lived BI connections do.
                for (int run = 0; run < 7; run++) {
                    ps.setString(1, "agent");
                    List<String> got = new ArrayList<>();
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            got.add(rs.getString(1) + "," + rs.getString(2));
                        }
                    }
                    if (run > 0 && !got.equals(rows)) {
                        throw new IllegalStateException("run " + run + " differs: " + got + " vs " + rows);
                    }
                    rows = got;
                }
            }
            Collections.sort(rows);
            System.out.println("{\"tables\":" + list(tables) + ",\"views\":" + list(views)
                + ",\"columns\":" + list(columns) + ",\"rows\":" + list(rows) + ",\"version\":"
                + quote(meta.getDatabaseProductVersion()) + "}");
        }
    }
}
