{{ valuations_ranged() }}
