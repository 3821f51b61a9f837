"""SDL for the directives a Trellis schema may use without declaring them.

AppSync's own directives (``@aws_*``) plus Amplify's model transformer directives. They are
prepended to the user's schema as a separate source, so error locations in the user's file stay
true.
"""

from __future__ import annotations

APPSYNC_DIRECTIVES_SDL = """
directive @aws_api_key on FIELD_DEFINITION | OBJECT
directive @aws_iam on FIELD_DEFINITION | OBJECT
directive @aws_oidc on FIELD_DEFINITION | OBJECT
directive @aws_lambda on FIELD_DEFINITION | OBJECT
directive @aws_cognito_user_pools(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT
directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
directive @aws_publish(subscriptions: [String]) on FIELD_DEFINITION
"""

AMPLIFY_DIRECTIVES_SDL = """
directive @model(
  queries: AmplifyModelQueries
  mutations: AmplifyModelMutations
  subscriptions: AmplifyModelSubscriptions
  timestamps: AmplifyModelTimestamps
) on OBJECT
input AmplifyModelQueries { get: String, list: String }
input AmplifyModelMutations { create: String, update: String, delete: String }
input AmplifyModelSubscriptions { onCreate: [String], onUpdate: [String], onDelete: [String], level: String }
input AmplifyModelTimestamps { createdAt: String, updatedAt: String }
directive @primaryKey(sortKeyFields: [String]) on FIELD_DEFINITION
directive @index(name: String, sortKeyFields: [String], queryField: String) repeatable on FIELD_DEFINITION
directive @default(value: String) on FIELD_DEFINITION
directive @hasMany(indexName: String, fields: [String], references: [String], limit: Int) on FIELD_DEFINITION
directive @hasOne(fields: [String], references: [String]) on FIELD_DEFINITION
directive @belongsTo(fields: [String], references: [String]) on FIELD_DEFINITION
directive @manyToMany(relationName: String!, limit: Int) on FIELD_DEFINITION
directive @auth(rules: [AuthRule!]!) on OBJECT | FIELD_DEFINITION
input AuthRule {
  allow: AuthStrategy!
  provider: AuthProvider
  identityClaim: String
  groupClaim: String
  ownerField: String
  groupsField: String
  groups: [String]
  operations: [ModelOperation]
}
enum AuthStrategy { owner groups private public custom }
enum AuthProvider { apiKey iam oidc userPools function }
enum ModelOperation { create update delete read get list sync listen search }
"""
