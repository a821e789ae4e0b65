#pragma once
// The durable part of auth/ (users with their hashes, tags and limits; permissions; topic
// permissions) in the store's topology form (store/topology.h), both ways, and the changes
// between two such states. topology_saver (topology.h) saves with these; broker_store loads
// with load_access() at start.
//
//   store::topology t;  durability::capture_access(authority.users, t);
//   durability::diff_access(saved, t, changes);   // put_user, delete_permission, ...
//   durability::load_access(authority.users, loaded);   // replaces every user
//
// Pure functions over plain data and the user_db.

#include <vector>

#include "auth/user_db.h"
#include "store/topology.h"

namespace warren::durability {

// Fills t.users, t.permissions and t.topic_permissions (sorted: equal states compare equal).
void capture_access(const auth::user_db& db, store::topology& t);
// Replaces every user, permission and topic permission of `db` with t's. A hash that does not
// parse is logged and the user loaded without a password (certificate login only).
void load_access(auth::user_db& db, const store::topology& t);
// The changes that turn before's access state into after's (both as capture_access sorts).
void diff_access(const store::topology& before, const store::topology& after,
                 std::vector<store::topology_change>& out);

}  // namespace warren::durability
