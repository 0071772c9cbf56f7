Pod::Spec.new do |s|
  s.name = 'WeeloAPI'
  s.ios.deployment_target = '13.0'
  s.osx.deployment_target = '10.15'
  s.tvos.deployment_target = '13.0'
  s.watchos.deployment_target = '6.0'
  s.version = '0.1.0'
  s.source = { :git => 'git@github.com:OpenAPITools/openapi-generator.git', :tag => 'v0.1.0' }
  s.authors = 'Weelo'
  s.license = 'Proprietary'
  s.homepage = 'https://weelo.app'
  s.summary = 'Weelo dispatch API client (generated from openapi/openapi.json)'
  s.source_files = 'Sources/WeeloAPI/**/*.swift'
end
