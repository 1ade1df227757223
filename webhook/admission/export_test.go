package admission

// EngineWith is engineWith, for the tests of package admission_test.
var EngineWith = engineWith
