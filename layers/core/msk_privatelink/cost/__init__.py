"""What a cluster's private connectivity costs a month, per pattern and per
consumer account: the price table (``prices``), the user's overrides of it
(``overrides``) and the model that turns a scenario into metered quantities
and dollars (``model``). Pure: nothing here talks to AWS."""
