package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// The JUnit XML form of a check report, as CI systems show test reports
// (the format Jenkins' JUnit plugin, GitLab, Azure Pipelines and GitHub
// report actions read; check's tests validate it against testdata/junit.xsd): one test suite per file, one test case per object. What
// fails the run fails its test case: a denial, and with --strict any
// finding; the other findings are in the case's system-out. Input errors
// are errors of a suite of their own; objects of kinds without rules are
// skipped cases.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Failures  []junitProblem `xml:"failure"`
	Errors    []junitProblem `xml:"error"`
	Skipped   *junitProblem  `xml:"skipped"`
	SystemOut string         `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML; strict makes every finding a
// failure, as --strict makes it fail the run.
func WriteJUnit(w io.Writer, r *Check, strict bool) error {
	doc := junitSuites{Name: "gracekeeper check"}
	suites := map[string]int{}
	suite := func(name string) *junitSuite {
		i, ok := suites[name]
		if !ok {
			i = len(doc.Suites)
			suites[name] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: name})
		}
		return &doc.Suites[i]
	}
	for _, o := range r.Objects {
		file, _, _ := strings.Cut(o.Source, "#")
		c := junitCase{Name: o.Ref(), Classname: file}
		var out []string
		for _, f := range o.Findings {
			line := fmt.Sprintf("%s  %s", f.Location, cli.FindingLine(f.Finding))
			if f.Action == policies.ActionDeny || strict {
				c.Failures = append(c.Failures, junitProblem{Type: string(f.Rule), Message: cli.FindingText(f.Finding), Text: line})
				continue
			}
			out = append(out, line)
		}
		c.SystemOut = strings.Join(out, "\n")
		s := suite(file)
		s.Cases = append(s.Cases, c)
		s.Tests++
		if len(c.Failures) > 0 {
			s.Failures++
		}
	}
	for _, k := range r.Skipped {
		file, _, _ := strings.Cut(k.Source, "#")
		s := suite(file)
		s.Cases = append(s.Cases, junitCase{Name: strings.ToLower(k.Kind) + "/" + k.Name, Classname: file,
			Skipped: &junitProblem{Message: k.Reason}})
		s.Tests++
		s.Skipped++
	}
	if len(r.Errors) > 0 {
		s := suite("input errors")
		for _, e := range r.Errors {
			s.Cases = append(s.Cases, junitCase{Name: e.File, Classname: "input",
				Errors: []junitProblem{{Type: "input", Message: e.String()}}})
			s.Tests++
			s.Errors++
		}
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
