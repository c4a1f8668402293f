-- ops.window_as_of_idx() was created by an earlier version of the refresh routines and is
-- called by nothing (the models read ops.refresh_window). A routine file used to drop it on
-- every migrate; dropping it once, here, is where a removal belongs.
drop function if exists ops.window_as_of_idx();
