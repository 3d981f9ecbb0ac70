// Key Vault (Azure RBAC permission model) holding the Neo4j password; the app setting is a Key Vault reference the
// platform resolves with the app's identity (Key Vault Secrets User), so the secret never sits in app settings.
param name string
param location string
param tags object
param identityPrincipalId string
@secure()
param neo4jPassword string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource neo4jSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'neo4j-password'
  properties: {
    value: neo4jPassword
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Versionless: the app picks up a rotated password (the platform re-reads references within a day, or on restart).
output neo4jPasswordReference string = '@Microsoft.KeyVault(SecretUri=${neo4jSecret.properties.secretUri})'
output name string = vault.name
