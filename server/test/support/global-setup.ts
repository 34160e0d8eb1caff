// Replaced by the database harness (see server/test/support/db.ts once it exists).
export default async function setup() {}
