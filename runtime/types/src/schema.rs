//! How the job spec's types describe themselves as a JSON schema, in the
//! form a Kubernetes API server accepts: the WeirJob CRD embeds the job
//! spec's schema (generated from these types), so the API server refuses a
//! misspelt field or a wrong type when the resource is applied.

use serde_json::{Map, Value};

/// An operator's config is the operator's to define: any object, kept
/// whole by a Kubernetes API server rather than pruned.
pub(crate) fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A field whose absence means something the schema cannot say (a
/// WeirJob's job name is the resource's): an API server must not fill it.
pub(crate) fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// An internally tagged enum (`type: text`, `type: generator`...) is a
/// `oneOf` of objects whose tag properties differ. A structural schema may
/// not declare properties inside `oneOf`, so the variants become one object:
/// every variant's fields, the tag one of the variants' names (each
/// described), and only the tag required, no field defaulted (a default
/// would be filled into every variant, also those without the field). Which
/// fields a variant needs is left to the types when the spec is read, which
/// name the path.
pub(crate) fn one_object_of_variants(schema: &mut schemars::Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let Some(Value::Array(variants)) = object.get("oneOf") else {
        return;
    };
    let mut tag: Option<String> = None;
    let mut names = Vec::new();
    let mut described = Vec::new();
    let mut properties = Map::new();
    for variant in variants {
        let Some(fields) = variant.get("properties").and_then(Value::as_object) else {
            // Not inlined (a `$ref`): not a schema for a CRD; leave it be.
            return;
        };
        let Some((tag_name, name)) = fields.iter().find_map(|(field, schema)| {
            let name = schema
                .get("const")
                .or_else(|| schema.get("enum").and_then(|e| e.get(0)))?;
            Some((field.clone(), name.as_str()?.to_string()))
        }) else {
            return;
        };
        if tag.get_or_insert_with(|| tag_name.clone()) != &tag_name {
            return;
        }
        if let Some(description) = variant.get("description").and_then(Value::as_str) {
            described.push(format!("`{name}`: {description}"));
        }
        names.push(Value::String(name));
        for (field, schema) in fields {
            if *field != tag_name {
                properties.entry(field.clone()).or_insert_with(|| {
                    let mut schema = schema.clone();
                    if let Some(schema) = schema.as_object_mut() {
                        schema.remove("default");
                    }
                    schema
                });
            }
        }
    }
    let Some(tag) = tag else {
        return;
    };
    let mut tag_schema = Map::new();
    tag_schema.insert("type".into(), "string".into());
    tag_schema.insert("enum".into(), Value::Array(names));
    if !described.is_empty() {
        tag_schema.insert("description".into(), described.join("\n").into());
    }
    properties.insert(tag.clone(), Value::Object(tag_schema));
    object.remove("oneOf");
    object.insert("type".into(), "object".into());
    object.insert("properties".into(), Value::Object(properties));
    object.insert("required".into(), Value::Array(vec![Value::String(tag)]));
}
