"""What exists only for the lessons: the bundled photos (``photos``), figures (``plot``), the diagram of the
whole model (``diagram``), interactive explorers (``explore``), live plots while training (``live``), checks of hand-built pieces
(``teach``) and the exercises (``exercises``). It imports the library; the library never imports it."""
