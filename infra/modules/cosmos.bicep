// The Cosmos DB job store (serverless): the database and the containers shared/adapters/cosmos_jobstore.py creates,
// with the same partition keys and indexing policy (a test compares them). Keys are off; the app's identity gets the
// data-plane role "Cosmos DB Built-in Data Contributor", which is a Cosmos DB SQL role assignment, not Azure RBAC.
param name string
param location string
param tags object
param identityPrincipalId string
param databaseName string

// Cosmos DB's own built-in data-plane role definition (not an Azure RBAC role id).
var cosmosDbBuiltInDataContributor = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource jobs 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: 'jobs'
  properties: {
    resource: {
      id: 'jobs'
      partitionKey: {
        paths: [
          '/job_id'
        ]
        kind: 'Hash'
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/markers/*'
          }
          {
            path: '/issue_keys/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
        compositeIndexes: [
          [
            {
              path: '/created_at'
              order: 'descending'
            }
            {
              path: '/job_id'
              order: 'descending'
            }
          ]
          // GET /api/jobs filtered by state or by reason: the equality first, then the order.
          [
            {
              path: '/state'
              order: 'ascending'
            }
            {
              path: '/created_at'
              order: 'descending'
            }
            {
              path: '/job_id'
              order: 'descending'
            }
          ]
          [
            {
              path: '/reason_code'
              order: 'ascending'
            }
            {
              path: '/created_at'
              order: 'descending'
            }
            {
              path: '/job_id'
              order: 'descending'
            }
          ]
          // GET /api/trace/{tracking_id}: the jobs of a tracking id, newest first.
          [
            {
              path: '/tracking_id'
              order: 'ascending'
            }
            {
              path: '/created_at'
              order: 'descending'
            }
            {
              path: '/job_id'
              order: 'descending'
            }
          ]
        ]
      }
    }
  }
}

resource documents 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: 'documents'
  properties: {
    resource: {
      id: 'documents'
      partitionKey: {
        paths: [
          '/document_id'
        ]
        kind: 'Hash'
      }
    }
  }
}

// The LLM token budgets shared by every worker (per minute and per job): items expire by their own ttl, so the
// container has time-to-live on with no default (-1), as the store creates it.
resource budgets 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: 'budgets'
  properties: {
    resource: {
      id: 'budgets'
      partitionKey: {
        paths: [
          '/key'
        ]
        kind: 'Hash'
      }
      defaultTtl: -1
    }
  }
}

resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: account
  name: guid(account.id, identityPrincipalId, cosmosDbBuiltInDataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosDbBuiltInDataContributor}'
    principalId: identityPrincipalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output name string = account.name
