/* The price table (data/prices.csv, lakehouse prices) in the catalog, and lh_cost_usd, which the views price model calls with. */
-- price_id (model@valid_from) is the row's key in the lake; a model's price holds from valid_from (a UTC day)
-- until its next row. USD per million tokens.
CREATE TABLE IF NOT EXISTS prices (
    model VARCHAR NOT NULL,
    input_usd_per_mtok DOUBLE NOT NULL,
    output_usd_per_mtok DOUBLE NOT NULL,
    valid_from DATE NOT NULL,
    price_id VARCHAR NOT NULL
);

-- A call's cost: NULL (never 0) when no price is known or the call reported no tokens at all.
CREATE OR REPLACE MACRO lh_cost_usd(input_tokens, output_tokens, input_price, output_price) AS
    CASE WHEN input_tokens IS NULL AND output_tokens IS NULL THEN NULL
         ELSE (coalesce(input_tokens, 0) * input_price + coalesce(output_tokens, 0) * output_price) / 1e6 END;
