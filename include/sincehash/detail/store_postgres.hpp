#ifndef SINCEHASH_DETAIL_STORE_POSTGRES_HPP
#define SINCEHASH_DETAIL_STORE_POSTGRES_HPP

// Internals of postgres_store: the binary wire format of parameters and results, and the schema
// with its migrations.

#include <sincehash/detail/state_codec.hpp>
#include <sincehash/digest.hpp>
#include <sincehash/time.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sincehash::detail {

// Type oids of the PostgreSQL catalogue (stable across versions).
inline constexpr unsigned pg_oid_bool = 16;
inline constexpr unsigned pg_oid_bytea = 17;
inline constexpr unsigned pg_oid_int8 = 20;
inline constexpr unsigned pg_oid_int2 = 21;
inline constexpr unsigned pg_oid_int4 = 23;
inline constexpr unsigned pg_oid_text = 25;

// Integers travel big-endian (network order).
inline void pg_put32(std::string& out, std::uint32_t v) { put_be(out, v, 4); }

inline void pg_put64(std::string& out, std::int64_t v) { put_be(out, static_cast<std::uint64_t>(v), 8); }

[[nodiscard]] inline std::string pg_int8(std::int64_t v) {
  std::string s;
  pg_put64(s, v);
  return s;
}

[[nodiscard]] inline std::string pg_int2(std::int16_t v) {
  std::string s;
  put_be(s, static_cast<std::uint16_t>(v), 2);
  return s;
}

[[nodiscard]] inline std::int64_t pg_get64(const char* p) noexcept {
  return static_cast<std::int64_t>(get_be(p, 8));
}

// A one-dimensional array in PostgreSQL's binary format, built element by element.
class pg_array {
 public:
  explicit pg_array(unsigned element_oid) : oid_(element_oid) {}
  void add(std::string_view bytes) {
    pg_put32(body_, static_cast<std::uint32_t>(bytes.size()));
    body_.append(bytes.data(), bytes.size());
    ++n_;
  }
  void add_int8(std::int64_t v) {
    pg_put32(body_, 8);
    pg_put64(body_, v);
    ++n_;
  }
  void add_int8(std::optional<std::int64_t> v) {
    if (v) {
      add_int8(*v);
    } else {
      pg_put32(body_, 0xFFFFFFFFu);  // -1: NULL
      has_null_ = true;
      ++n_;
    }
  }
  [[nodiscard]] std::string finish() const {
    std::string out;
    pg_put32(out, n_ == 0 ? 0 : 1);
    pg_put32(out, has_null_ ? 1 : 0);
    pg_put32(out, oid_);
    if (n_ != 0) {
      pg_put32(out, static_cast<std::uint32_t>(n_));
      pg_put32(out, 1);
    }
    out += body_;
    return out;
  }

 private:
  unsigned oid_;
  std::string body_;
  std::size_t n_ = 0;
  bool has_null_ = false;
};

// A state's fingerprint as the `records.fingerprint` column (an integer) holds it: its 32 bits
// as a signed value, so that any fingerprint fits; reading the column back as bigint and
// truncating it to 32 bits gives the fingerprint again.
[[nodiscard]] inline std::int64_t pg_fingerprint(std::uint32_t fingerprint) noexcept {
  return static_cast<std::int32_t>(fingerprint);
}

// pg_migrations[v] brings a schema from version v to v + 1. They run inside one transaction with
// the store's schema first on the search path.
inline constexpr const char* pg_migrations[] = {
    // 0 -> 1: states, offsets, fingerprints, rescans.
    "CREATE TABLE partitions("
    " id bigserial PRIMARY KEY,"
    " name bytea NOT NULL UNIQUE,"
    " offset_kind smallint, offset_text bytea, offset_number bigint,"
    " rescan_active boolean NOT NULL DEFAULT false,"
    " last_rescan bigint,"
    " fingerprint_next integer NOT NULL DEFAULT 0);"
    "CREATE TABLE records("
    " partition bigint NOT NULL,"
    " id bytea NOT NULL,"
    " hash bytea NOT NULL,"
    " fingerprint bigint NOT NULL,"
    " updated bigint,"
    " last_seen bigint NOT NULL,"
    " expires bigint,"
    " PRIMARY KEY(partition, id));"
    "CREATE INDEX records_expiry ON records(expires) WHERE expires IS NOT NULL;"
    "CREATE TABLE fingerprints("
    " partition bigint NOT NULL,"
    " id integer NOT NULL,"
    " text bytea NOT NULL,"
    " PRIMARY KEY(partition, id),"
    " UNIQUE(partition, text));"
    "CREATE TABLE rescan_seen("
    " partition bigint NOT NULL,"
    " id bytea NOT NULL,"
    " PRIMARY KEY(partition, id));"
    "CREATE FUNCTION intern_fingerprint(p bigint, t bytea) RETURNS integer LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $f$"
    " DECLARE n integer;"
    " BEGIN"
    "  PERFORM 1 FROM partitions WHERE id = p FOR UPDATE;"
    "  SELECT id INTO n FROM fingerprints WHERE partition = p AND text = t;"
    "  IF n IS NULL THEN"
    "   UPDATE partitions SET fingerprint_next = fingerprint_next + 1 WHERE id = p"
    "    RETURNING fingerprint_next INTO n;"
    "   INSERT INTO fingerprints(partition, id, text) VALUES(p, n, t);"
    "  END IF;"
    "  RETURN n;"
    " END $f$;",
    // 1 -> 2: leases with fencing tokens, and the check every commit runs first.
    "ALTER TABLE partitions ADD COLUMN lease_owner text,"
    " ADD COLUMN lease_token bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN lease_expires timestamptz;"
    "CREATE FUNCTION commit_guard(p bigint, fence bigint, kind smallint, complete boolean)"
    " RETURNS boolean LANGUAGE plpgsql SET search_path FROM CURRENT AS $f$"
    " DECLARE r record;"
    " BEGIN"
    "  SELECT * INTO r FROM partitions WHERE id = p FOR UPDATE;"
    "  IF fence IS NOT NULL THEN"
    "   IF r.lease_token <> fence THEN"
    "    RAISE EXCEPTION 'the lease is now held under fencing token % by \"%\", not under token %',"
    "     r.lease_token, r.lease_owner, fence USING ERRCODE = 'SH001';"
    "   END IF;"
    "   IF r.lease_expires IS NULL OR r.lease_expires <= clock_timestamp() THEN"
    "    RAISE EXCEPTION 'the lease under fencing token % expired', fence USING ERRCODE = 'SH001';"
    "   END IF;"
    "  END IF;"
    "  IF kind IS NOT NULL AND r.offset_kind IS NOT NULL AND r.offset_kind <> kind THEN"
    "   RAISE EXCEPTION '%', r.offset_kind USING ERRCODE = 'SH002';"
    "  END IF;"
    "  IF complete AND NOT r.rescan_active THEN"
    "   RAISE EXCEPTION 'no rescan is active' USING ERRCODE = 'SH003';"
    "  END IF;"
    "  RETURN r.rescan_active;"
    " END $f$;",
    // 2 -> 3: the opaque bytes a decorating store keeps per state (record_state::sealed). Not
    // null: a state without any holds '' (so do the rows written before), which a constant
    // default gives every existing row without rewriting the table.
    "ALTER TABLE records ADD COLUMN sealed bytea NOT NULL DEFAULT ''::bytea;",
    // 3 -> 4: versions. Each partition has a write sequence, bumped by every change to it; each
    // state keeps the sequence of the change that wrote it as its version. The rows written
    // before get version 1 (a constant default: no table rewrite) and their partitions sequence
    // 1, so every later write has a larger version. `commit_check` replaces `commit_guard`: it
    // also checks a commit's conditions and bumps the sequence; the old function now refuses, so
    // that a process of an older sincehash still connected cannot commit without versions.
    // Purges run as functions that lock the partition's row first, as every write does.
    "ALTER TABLE partitions ADD COLUMN sequence bigint NOT NULL DEFAULT 0;"
    "UPDATE partitions SET sequence = 1;"
    "ALTER TABLE records ADD COLUMN version bigint NOT NULL DEFAULT 1;"
    "ALTER TABLE records ALTER COLUMN version DROP DEFAULT;"
    "CREATE FUNCTION commit_check(p bigint, fence bigint, kind smallint, complete boolean,"
    " writes boolean, expect_ids bytea[], expect_versions bigint[], read_sequence bigint)"
    " RETURNS bigint LANGUAGE plpgsql SET search_path FROM CURRENT AS $f$"
    " DECLARE r record; bad text; seq bigint;"
    " BEGIN"
    "  SELECT * INTO r FROM partitions WHERE id = p FOR UPDATE;"
    "  IF fence IS NOT NULL THEN"
    "   IF r.lease_token <> fence THEN"
    "    RAISE EXCEPTION 'the lease is now held under fencing token % by \"%\", not under token %',"
    "     r.lease_token, r.lease_owner, fence USING ERRCODE = 'SH001';"
    "   END IF;"
    "   IF r.lease_expires IS NULL OR r.lease_expires <= clock_timestamp() THEN"
    "    RAISE EXCEPTION 'the lease under fencing token % expired', fence USING ERRCODE = 'SH001';"
    "   END IF;"
    "  END IF;"
    "  IF kind IS NOT NULL AND r.offset_kind IS NOT NULL AND r.offset_kind <> kind THEN"
    "   RAISE EXCEPTION '%', r.offset_kind USING ERRCODE = 'SH002';"
    "  END IF;"
    "  IF complete AND NOT r.rescan_active THEN"
    "   RAISE EXCEPTION 'no rescan is active' USING ERRCODE = 'SH003';"
    "  END IF;"
    "  IF cardinality(expect_ids) > 0 AND (read_sequence IS NULL OR read_sequence <> r.sequence) THEN"
    "   SELECT string_agg(encode(e.id, 'hex'), ',') INTO bad"
    "    FROM unnest(expect_ids, expect_versions) AS e(id, v)"
    "    LEFT JOIN records x ON x.partition = p AND x.id = e.id"
    "    WHERE coalesce(x.version, 0) <> e.v;"
    "   IF bad IS NOT NULL THEN"
    "    RAISE EXCEPTION 'records changed since they were read' USING ERRCODE = 'SH004', DETAIL = bad;"
    "   END IF;"
    "  END IF;"
    "  seq := r.sequence;"
    "  IF writes THEN"
    "   UPDATE partitions SET sequence = sequence + 1 WHERE id = p RETURNING sequence INTO seq;"
    "  END IF;"
    "  RETURN seq;"
    " END $f$;"
    "CREATE OR REPLACE FUNCTION commit_guard(p bigint, fence bigint, kind smallint, complete boolean)"
    " RETURNS boolean LANGUAGE plpgsql AS $f$"
    " BEGIN"
    "  RAISE EXCEPTION 'the sincehash schema was upgraded to keep versions; this process runs an older"
    " sincehash and may no longer commit: upgrade it' USING ERRCODE = 'SH005';"
    " END $f$;"
    "CREATE FUNCTION purge_partition(pname bytea, at_ns bigint) RETURNS bigint LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $f$"
    " DECLARE pid bigint; n bigint;"
    " BEGIN"
    "  SELECT id INTO pid FROM partitions WHERE name = pname;"
    "  IF pid IS NULL OR NOT EXISTS(SELECT 1 FROM records WHERE partition = pid AND expires <= at_ns) THEN"
    "   RETURN 0;"
    "  END IF;"
    "  PERFORM 1 FROM partitions WHERE id = pid FOR UPDATE;"
    "  DELETE FROM records WHERE partition = pid AND expires <= at_ns;"
    "  GET DIAGNOSTICS n = ROW_COUNT;"
    "  IF n > 0 THEN UPDATE partitions SET sequence = sequence + 1 WHERE id = pid; END IF;"
    "  RETURN n;"
    " END $f$;"
    "CREATE FUNCTION purge_all(at_ns bigint) RETURNS bigint LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $f$"
    " DECLARE pid bigint; n bigint; total bigint := 0;"
    " BEGIN"
    "  FOR pid IN SELECT DISTINCT partition FROM records WHERE expires <= at_ns ORDER BY 1 LOOP"
    "   PERFORM 1 FROM partitions WHERE id = pid FOR UPDATE;"
    "   DELETE FROM records WHERE partition = pid AND expires <= at_ns;"
    "   GET DIAGNOSTICS n = ROW_COUNT;"
    "   IF n > 0 THEN"
    "    UPDATE partitions SET sequence = sequence + 1 WHERE id = pid;"
    "    total := total + n;"
    "   END IF;"
    "  END LOOP;"
    "  RETURN total;"
    " END $f$;",
    // 4 -> 5: the per-field digests of reportChanges (record_state::fields), '' when none; a
    // constant default, so existing rows are not rewritten.
    "ALTER TABLE records ADD COLUMN fields bytea NOT NULL DEFAULT ''::bytea;",
    // 5 -> 6: a narrower row, rewritten once. The columns each schema added went to the end of
    // the row, where every 8-byte column after a variable-length one paid alignment padding; the
    // fingerprint (32 bits) took 8 bytes; it is now an integer holding them (`pg_fingerprint`). Fixed-width
    // columns now come first, widest first, and the variable-length ones last: 16 bytes less per
    // row on average, which every first sync writes (in the table and in the WAL).
    "CREATE TABLE records_next("
    " partition bigint NOT NULL,"
    " version bigint NOT NULL,"
    " last_seen bigint NOT NULL,"
    " updated bigint,"
    " expires bigint,"
    " fingerprint integer NOT NULL,"
    " hash bytea NOT NULL,"
    " id bytea NOT NULL,"
    " sealed bytea NOT NULL DEFAULT ''::bytea,"
    " fields bytea NOT NULL DEFAULT ''::bytea,"
    " CONSTRAINT records_next_pkey PRIMARY KEY(partition, id));"
    "LOCK TABLE records IN ACCESS EXCLUSIVE MODE;"
    "INSERT INTO records_next(partition, version, last_seen, updated, expires, fingerprint, hash, id,"
    " sealed, fields) SELECT partition, version, last_seen, updated, expires,"
    " CASE WHEN fingerprint > 2147483647 THEN fingerprint - 4294967296 ELSE fingerprint END, hash, id,"
    " sealed, fields FROM records ORDER BY partition, id;"
    "DROP TABLE records;"
    "ALTER TABLE records_next RENAME TO records;"
    "ALTER TABLE records RENAME CONSTRAINT records_next_pkey TO records_pkey;"
    "CREATE INDEX records_expiry ON records(expires) WHERE expires IS NOT NULL;",
};

inline constexpr int pg_schema_version = static_cast<int>(sizeof(pg_migrations) / sizeof(pg_migrations[0]));

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_POSTGRES_HPP
