{{ positions_resolved() }}
