// Names that may reach SQL from input or config: plain identifiers only, then quoted anyway.
// Pure, so workflows validate input with the same rule the activities enforce.

/** A plain SQL identifier: letters, digits and "_", not starting with a digit, at most 63 bytes. */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** "table" or "schema.table", each part a plain identifier. */
export const TABLE_NAME = /^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/;
