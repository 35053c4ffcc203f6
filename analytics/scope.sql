-- The WHERE clauses every job shares (put in by analytics/scope.py for the __SCOPE__ markers).
-- Columns are named with their table because a job's output aliases may shadow them.
-- @attempt
llm_attempts.ts >= {since:DateTime64(6, 'UTC')} AND llm_attempts.ts < {until:DateTime64(6, 'UTC')}
    AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
    AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
    AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
    AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
    AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
    AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
    AND (NOT {scoped:Bool} OR llm_attempts.tenant = {scope_tenant:String})
-- @request
llm_attempts.ts >= {since:DateTime64(6, 'UTC')} AND llm_attempts.ts < {until:DateTime64(6, 'UTC')}
    AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
    AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
    AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
    AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
    AND (NOT {scoped:Bool} OR llm_attempts.tenant = {scope_tenant:String})
-- @primary
(empty({models:Array(String)}) OR has({models:Array(String)}, r_model))
    AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, r_provider))
-- @rollup
-- The same filters on a rollup's columns (analytics/rollup.py reads the hour rollup, which has no
-- tenant or feature, only when neither is filtered, grouped on or scoped to).
(empty({routes:Array(String)}) OR has({routes:Array(String)}, route))
    AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, task))
    AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, tenant))
    AND (empty({features:Array(String)}) OR has({features:Array(String)}, feature))
    AND (empty({models:Array(String)}) OR has({models:Array(String)}, model))
    AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, provider))
    AND (NOT {scoped:Bool} OR tenant = {scope_tenant:String})
