select portfolio_id
from {{ source('ops', 'refresh_exposure_subjects') }}
