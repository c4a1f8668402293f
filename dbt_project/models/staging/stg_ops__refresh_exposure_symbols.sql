select symbol
from {{ source('ops', 'refresh_exposure_symbols') }}
