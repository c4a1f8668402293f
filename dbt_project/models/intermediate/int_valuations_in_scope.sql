{{ valuations_ranged(in_scope_only=true) }}
