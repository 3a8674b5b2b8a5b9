/* model_call_evidence: the evidence of kind model_call (the model_calls stream) with each call's cost_usd from the prices table. */
CREATE OR REPLACE VIEW model_call_evidence AS
SELECT e.*, lh_cost_usd(e.prompt_tokens, e.completion_tokens, p.input_usd_per_mtok, p.output_usd_per_mtok) AS cost_usd
FROM (SELECT * FROM evidence WHERE kind = 'model_call') AS e
ASOF LEFT JOIN prices AS p ON e.model = p.model AND e.day >= p.valid_from;
