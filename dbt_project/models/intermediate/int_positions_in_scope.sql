{{ positions_resolved(in_scope_only=true) }}
