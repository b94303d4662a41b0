/* MathJax 2 settings for the course site, loaded as config/local/lorakit.js (mkdocs.yml's
   custom_mathjax_url). The jupyter-server-mathjax package ships only the STIX-Web web fonts, so use
   them and look for no other font: MathJax's default "MathJax_Blank" face points at about:blank (a
   console error in Chromium), and its hidden MathML copy for screen readers asks for TeX .otf fonts
   that are not shipped. */
MathJax.Hub.Config({
  "HTML-CSS": {
    availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
    styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}
  },
  menuSettings: {assistiveMML: false}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/lorakit.js");
