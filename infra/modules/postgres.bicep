// The PostgreSQL job store: Flexible Server with Microsoft Entra authentication only (no password exists). The
// app's identity is the server's Entra administrator, because the store runs its schema migrations at start
// (shared/adapters/migrations) and so needs DDL rights; its DSN names that identity as the user.
param name string
param location string
param tags object
param identityPrincipalId string
param identityName string
param databaseName string
param skuName string = 'Standard_B1ms'
param skuTier string = 'Burstable'
param version string = '16'
param storageSizeGB int = 32

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    storage: {
      storageSizeGB: storageSizeGB
    }
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// 0.0.0.0-0.0.0.0 is Azure's "allow Azure services" rule: Flex Consumption has no fixed outbound addresses without
// a virtual network. Tokens, not the network, guard the server (put both on a virtual network to close it).
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource administrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: identityPrincipalId
  properties: {
    principalType: 'ServicePrincipal'
    principalName: identityName
    tenantId: tenant().tenantId
  }
  dependsOn: [
    allowAzure
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    administrator
  ]
}

// libpq keywords; no password: the store asks Entra for a token (TRIBUTARY_POSTGRES_AUTH=entra).
output dsn string = 'host=${server.properties.fullyQualifiedDomainName} port=5432 dbname=${databaseName} user=${identityName} sslmode=require'
output name string = server.name
