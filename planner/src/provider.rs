//! The bridge to DataFusion's SQL planner: tables from the catalog, functions from
//! DataFusion's libraries under their own and their ksqlDB names.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::TableReference;
use datafusion_expr::logical_plan::builder::LogicalTableSource;
use datafusion_expr::planner::{ContextProvider, ExprPlanner};
use datafusion_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};

use crate::Catalog;

/// ksqlDB function names that are DataFusion functions under another name.
const KSQL_ALIASES: &[(&str, &str)] = &[
    ("ucase", "upper"),
    ("lcase", "lower"),
    ("len", "character_length"),
    ("ifnull", "coalesce"),
    // ksqlDB's ARRAY_REMOVE removes every occurrence.
    ("array_remove", "array_remove_all"),
    // SLICE(list, from, to): 1-based, both ends included, as array_slice.
    ("slice", "array_slice"),
    // AS_MAP(keys, values).
    ("as_map", "map"),
];

/// ksqlDB aggregate names that are DataFusion aggregates under another name. Accumulators see
/// a group's rows in input (offset) order, so first/last value are earliest/latest by offset.
const KSQL_AGGREGATE_ALIASES: &[(&str, &str)] = &[("collect_list", "array_agg")];

/// Every function Weir can call, indexed by lower-case name.
pub(crate) struct FunctionRegistry {
    pub(crate) scalars: HashMap<String, Arc<ScalarUDF>>,
    pub(crate) aggregates: HashMap<String, Arc<AggregateUDF>>,
    pub(crate) higher_order: HashMap<String, Arc<HigherOrderUDF>>,
    pub(crate) planners: Vec<Arc<dyn ExprPlanner>>,
}

impl FunctionRegistry {
    /// The shared registry (built once per process).
    pub(crate) fn get() -> &'static FunctionRegistry {
        static REGISTRY: OnceLock<FunctionRegistry> = OnceLock::new();
        REGISTRY.get_or_init(Self::build)
    }

    fn build() -> Self {
        let mut scalars = HashMap::new();
        for f in datafusion_functions::all_default_functions()
            .into_iter()
            .chain(datafusion_functions_nested::all_default_nested_functions())
            .chain(crate::functions::all())
        {
            for alias in f.aliases() {
                scalars.insert(alias.to_lowercase(), Arc::clone(&f));
            }
            scalars.insert(f.name().to_lowercase(), f);
        }
        for (ksql, df) in KSQL_ALIASES {
            if let Some(f) = scalars.get(*df).cloned() {
                scalars.insert((*ksql).to_string(), f);
            }
        }
        let mut aggregates = HashMap::new();
        for f in datafusion_functions_aggregate::all_default_aggregate_functions()
            .into_iter()
            .chain(crate::functions::aggregates::all())
        {
            for alias in f.aliases() {
                aggregates.insert(alias.to_lowercase(), Arc::clone(&f));
            }
            aggregates.insert(f.name().to_lowercase(), f);
        }
        for (ksql, df) in KSQL_AGGREGATE_ALIASES {
            if let Some(f) = aggregates.get(*df).cloned() {
                aggregates.insert((*ksql).to_string(), f);
            }
        }
        for f in crate::functions::aggregates::ksql_statistics(
            aggregates.get("corr").cloned(),
            aggregates.get("stddev_samp").cloned(),
            aggregates.get("sum").cloned(),
        ) {
            aggregates.insert(f.name().to_string(), f);
        }
        let mut higher_order: HashMap<String, Arc<HigherOrderUDF>> =
            datafusion_functions_nested::all_default_higher_order_functions()
                .into_iter()
                .map(|f| (f.name().to_lowercase(), f))
                .collect();
        higher_order.insert("reduce".into(), crate::functions::reduce::reduce());
        // ksqlDB's TRANSFORM and FILTER: DataFusion's over arrays, Weir's over maps.
        if let (Some(t), Some(f)) = (
            higher_order.get("array_transform").cloned(),
            higher_order.get("array_filter").cloned(),
        ) {
            for g in crate::functions::lambdas::all(t, f) {
                higher_order.insert(g.name().to_string(), g);
            }
        }
        let planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(StringPlusPlanner),
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
            Arc::new(datafusion_functions_nested::planner::NestedFunctionPlanner),
            Arc::new(datafusion_functions_nested::planner::FieldAccessPlanner),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
        ];
        Self {
            scalars,
            aggregates,
            higher_order,
            planners,
        }
    }

    /// Sorted names of the scalar functions (ksqlDB aliases included).
    pub(crate) fn scalar_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.scalars.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Answers DataFusion's questions about tables and functions during planning.
pub(crate) struct Provider<'a> {
    pub(crate) catalog: &'a Catalog,
    /// Tables show `WINDOWSTART`/`WINDOWEND` (windowed aggregations).
    pub(crate) windowed: bool,
    pub(crate) options: ConfigOptions,
    registry: &'static FunctionRegistry,
}

impl<'a> Provider<'a> {
    pub(crate) fn new(catalog: &'a Catalog) -> Self {
        let mut options = ConfigOptions::default();
        options.sql_parser.enable_ident_normalization = false;
        Self {
            catalog,
            windowed: false,
            options,
            registry: FunctionRegistry::get(),
        }
    }
}

impl ContextProvider for Provider<'_> {
    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion_common::Result<Arc<dyn TableSource>> {
        match self.catalog.get(name.table()) {
            Some(def) => {
                let mut schema = def.physical_schema();
                if self.windowed && def.kind == weir_parser::SourceKind::Stream {
                    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
                    fields.extend(crate::columns::window_fields());
                    schema = Arc::new(arrow::datatypes::Schema::new(fields));
                }
                Ok(Arc::new(LogicalTableSource::new(schema)))
            }
            None => datafusion_common::plan_err!("stream '{}' does not exist", name.table()),
        }
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.registry.planners
    }

    fn get_type_planner(&self) -> Option<Arc<dyn datafusion_expr::planner::TypePlanner>> {
        Some(Arc::new(CastTypes {
            types: self.catalog.type_map(),
        }))
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.registry.scalars.get(&name.to_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        self.registry
            .higher_order
            .get(&name.to_lowercase())
            .cloned()
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.registry.aggregates.get(&name.to_lowercase()).cloned()
    }

    fn get_window_meta(&self, _name: &str) -> Option<Arc<WindowUDF>> {
        None
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.registry.scalars.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        self.registry.higher_order.keys().cloned().collect()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.registry.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The nested types of `CAST(x AS MAP<...>)` and friends, which the parser hands on as one
/// name (see [`weir_parser::cast_type`]).
#[derive(Debug)]
struct CastTypes {
    /// Types registered with `CREATE TYPE`, by name.
    types: std::collections::BTreeMap<String, weir_parser::SqlType>,
}

impl datafusion_expr::planner::TypePlanner for CastTypes {
    fn plan_type_field(
        &self,
        sql_type: &sqlparser::ast::DataType,
    ) -> datafusion_common::Result<Option<arrow::datatypes::FieldRef>> {
        // ksqlDB's TIMESTAMP has millisecond precision (DataFusion's: nanoseconds).
        if let sqlparser::ast::DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None) =
            sql_type
        {
            return Ok(Some(Arc::new(arrow::datatypes::Field::new(
                "",
                arrow::datatypes::DataType::Timestamp(
                    arrow::datatypes::TimeUnit::Millisecond,
                    None,
                ),
                true,
            ))));
        }
        // ksqlDB's STRING is Utf8 (DataFusion casts to Utf8View).
        if matches!(
            sql_type,
            sqlparser::ast::DataType::String(_)
                | sqlparser::ast::DataType::Varchar(_)
                | sqlparser::ast::DataType::Text
        ) {
            return Ok(Some(Arc::new(arrow::datatypes::Field::new(
                "",
                arrow::datatypes::DataType::Utf8,
                true,
            ))));
        }
        let sqlparser::ast::DataType::Custom(name, _) = sql_type else {
            return Ok(None);
        };
        let [part] = name.0.as_slice() else {
            return Ok(None);
        };
        let Some(ident) = part.as_ident() else {
            return Ok(None);
        };
        let parsed = match weir_parser::cast_type(&ident.value) {
            Some(parsed) => parsed,
            // `CAST(x AS ADDRESS)`: a type registered with CREATE TYPE.
            None => match self.types.get(&ident.value.to_uppercase()) {
                Some(t) => Ok(t.clone()),
                None => return Ok(None),
            },
        };
        match parsed.map(|t| crate::catalog::resolve_type(&self.types, &t)) {
            Ok(Ok(t)) => Ok(Some(Arc::new(arrow::datatypes::Field::new(
                "",
                crate::types::arrow_type(&t),
                true,
            )))),
            Ok(Err(e)) => datafusion_common::plan_err!("{e}"),
            Err(e) => datafusion_common::plan_err!("{e}"),
        }
    }
}

/// ksqlDB concatenates strings with `+` (`first_name + ' ' + last_name`): planned as `||`
/// (NULL if either side is NULL).
#[derive(Debug)]
struct StringPlusPlanner;

impl ExprPlanner for StringPlusPlanner {
    fn plan_binary_op(
        &self,
        expr: datafusion_expr::planner::RawBinaryExpr,
        schema: &datafusion_common::DFSchema,
    ) -> datafusion_common::Result<
        datafusion_expr::planner::PlannerResult<datafusion_expr::planner::RawBinaryExpr>,
    > {
        use datafusion_expr::planner::PlannerResult;
        use datafusion_expr::ExprSchemable;
        let is_text = |e: &datafusion_expr::Expr| {
            e.get_type(schema).is_ok_and(|t| {
                matches!(
                    t,
                    arrow::datatypes::DataType::Utf8
                        | arrow::datatypes::DataType::LargeUtf8
                        | arrow::datatypes::DataType::Utf8View
                )
            })
        };
        if expr.op == sqlparser::ast::BinaryOperator::Plus
            && is_text(&expr.left)
            && is_text(&expr.right)
        {
            return Ok(PlannerResult::Planned(datafusion_expr::Expr::BinaryExpr(
                datafusion_expr::BinaryExpr::new(
                    Box::new(expr.left),
                    datafusion_expr::Operator::StringConcat,
                    Box::new(expr.right),
                ),
            )));
        }
        Ok(PlannerResult::Original(expr))
    }
}
